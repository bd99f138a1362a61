//! Where gzip encoders stand on one tar: compressed size and single-core time for libdeflate
//! (pyoci's encoder) and zlib-rs (flate2's Rust port of zlib-ng) at levels 1-9, each compressing
//! the tar as independent 1 MiB members, as pyoci does. bench/deflate_frontier.sh runs it on
//! the layer benchmark's pip tree next to `gzip -6` and `igzip`.
//!
//! Usage: cargo run --release -p pyoci-layer --example deflate_frontier -- TAR [REFERENCE_BYTES]

use std::io::Write;
use std::time::Instant;

const MEMBER: usize = 1 << 20;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: deflate_frontier TAR [REFERENCE_BYTES]");
        std::process::exit(2);
    };
    let data = match std::fs::read(&path) {
        Ok(data) => data,
        Err(error) => {
            eprintln!("{path}: {error}");
            std::process::exit(1);
        }
    };
    let reference: Option<f64> = args.next().and_then(|text| text.parse().ok());
    println!("{:<12} {:>5} {:>12} {:>9} {:>10}", "encoder", "level", "bytes", "1-core s", "vs ref");
    for level in 1..=9 {
        let (bytes, seconds) = timed(|| libdeflate_members(&data, level));
        print_row("libdeflate", level, bytes, seconds, reference);
    }
    for level in 1..=9 {
        let (bytes, seconds) = timed(|| zlib_rs_members(&data, level));
        print_row("zlib-rs", level, bytes, seconds, reference);
    }
}

fn timed(work: impl FnOnce() -> usize) -> (usize, f64) {
    let started = Instant::now();
    let bytes = work();
    (bytes, started.elapsed().as_secs_f64())
}

fn print_row(encoder: &str, level: u32, bytes: usize, seconds: f64, reference: Option<f64>) {
    let ratio = reference.map_or_else(String::new, |r| format!("{:.3}x", bytes as f64 / r));
    println!("{encoder:<12} {level:>5} {bytes:>12} {seconds:>9.3} {ratio:>10}");
}

fn libdeflate_members(data: &[u8], level: u32) -> usize {
    let Ok(level) = libdeflater::CompressionLvl::new(level as i32) else {
        return 0;
    };
    let mut compressor = libdeflater::Compressor::new(level);
    let mut out = vec![0; compressor.gzip_compress_bound(MEMBER)];
    data.chunks(MEMBER).map(|chunk| compressor.gzip_compress(chunk, &mut out).unwrap_or(0)).sum()
}

fn zlib_rs_members(data: &[u8], level: u32) -> usize {
    data.chunks(MEMBER)
        .map(|chunk| {
            let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(MEMBER), flate2::Compression::new(level));
            let written = encoder.write_all(chunk).and_then(|()| encoder.finish());
            written.map_or(0, |member| member.len())
        })
        .sum()
}
