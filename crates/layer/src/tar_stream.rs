//! Tar members as bytes: ustar headers, with a PAX extended header in front
//! only when a value does not fit its ustar field. GNU extensions are never
//! written, so every POSIX reader sees the same archive.

use std::fs::File;
use std::io::Read;

use tar::{EntryType, Header};

use crate::compress::ChunkSink;
use crate::plan::{Content, Item, ItemKind, Plan};
use crate::Error;

const BLOCK: u64 = 512;
const NAME_FIELD: usize = 100;
const OWNER_NAME_FIELD: usize = 32;
/// Largest value an 11-digit octal field holds, plus one.
const OCTAL_11_LIMIT: u64 = 1 << 33;
/// Largest value a 7-digit octal field holds, plus one.
const OCTAL_7_LIMIT: u64 = 1 << 21;

/// Writes the whole archive, including the two zero blocks that end it.
pub(crate) fn write_tar(plan: &Plan, mtime: u64, sink: &mut ChunkSink) -> Result<(), Error> {
    for item in &plan.items {
        sink.write_bytes(&header_blocks(item, mtime))?;
        if let ItemKind::Regular(content) = &item.kind {
            match content {
                Content::Bytes(bytes) => sink.write_bytes(bytes)?,
                Content::File { source, size } => {
                    let mut file =
                        File::open(source).map_err(|e| Error::Source { path: source.clone(), error: e })?;
                    sink.copy_exact(&mut file, *size, source)?;
                }
            }
            sink.write_bytes(&[0u8; BLOCK as usize][..padding(content.size()) as usize])?;
        }
    }
    sink.write_bytes(&[0u8; 2 * BLOCK as usize])
}

impl Plan {
    /// Exact length of the archive [`write_tar`] produces.
    pub(crate) fn tar_size(&self) -> u64 {
        let members: u64 = self
            .items
            .iter()
            .map(|item| {
                let data = match &item.kind {
                    ItemKind::Regular(content) => content.size() + padding(content.size()),
                    _ => 0,
                };
                header_blocks(item, 0).len() as u64 + data
            })
            .sum();
        members + 2 * BLOCK
    }
}

fn padding(size: u64) -> u64 {
    (BLOCK - size % BLOCK) % BLOCK
}

/// The member's header: one ustar block, preceded by a PAX header and its
/// records when a path, link target, size, id or owner name does not fit.
fn header_blocks(item: &Item, mtime: u64) -> Vec<u8> {
    let mut name = item.name.clone();
    if matches!(item.kind, ItemKind::Dir) {
        name.push(b'/');
    }
    let (entry_type, link, size) = match &item.kind {
        ItemKind::Regular(content) => (EntryType::Regular, None, content.size()),
        ItemKind::Dir => (EntryType::Directory, None, 0),
        ItemKind::Symlink(target) => (EntryType::Symlink, Some(target.as_slice()), 0),
        ItemKind::Hardlink(target) => (EntryType::Link, Some(target.as_slice()), 0),
    };

    let mut records: Vec<(&str, Vec<u8>)> = Vec::new();
    if name.len() > NAME_FIELD {
        records.push(("path", name.clone()));
    }
    if let Some(link) = link.filter(|l| l.len() > NAME_FIELD) {
        records.push(("linkpath", link.to_vec()));
    }
    if size >= OCTAL_11_LIMIT {
        records.push(("size", size.to_string().into_bytes()));
    }
    if mtime >= OCTAL_11_LIMIT {
        records.push(("mtime", mtime.to_string().into_bytes()));
    }
    if item.uid >= OCTAL_7_LIMIT {
        records.push(("uid", item.uid.to_string().into_bytes()));
    }
    if item.gid >= OCTAL_7_LIMIT {
        records.push(("gid", item.gid.to_string().into_bytes()));
    }
    if item.uname.len() > OWNER_NAME_FIELD {
        records.push(("uname", item.uname.as_bytes().to_vec()));
    }
    if item.gname.len() > OWNER_NAME_FIELD {
        records.push(("gname", item.gname.as_bytes().to_vec()));
    }
    // PAX values are UTF-8 unless declared otherwise; file names need not be.
    if records.iter().any(|(key, value)| matches!(*key, "path" | "linkpath") && std::str::from_utf8(value).is_err()) {
        records.push(("hdrcharset", b"BINARY".to_vec()));
    }
    records.sort_by(|a, b| a.0.cmp(b.0));

    let mut out = Vec::with_capacity(3 * BLOCK as usize);
    if !records.is_empty() {
        let body = pax_body(&records);
        let base = name.rsplit(|&b| b == b'/').find(|part| !part.is_empty()).unwrap_or(&name);
        let mut pax_name = b"PaxHeaders.0/".to_vec();
        pax_name.extend_from_slice(base);
        let mut pax = ustar_header(&pax_name, EntryType::XHeader, 0o644, body.len() as u64, mtime, None, 0, 0, "", "");
        pax.set_cksum();
        out.extend_from_slice(pax.as_bytes());
        out.extend_from_slice(&body);
        out.resize(out.len() + padding(body.len() as u64) as usize, 0);
    }
    let mut header = ustar_header(
        &name,
        entry_type,
        item.mode,
        if size < OCTAL_11_LIMIT { size } else { 0 },
        if mtime < OCTAL_11_LIMIT { mtime } else { 0 },
        link,
        if item.uid < OCTAL_7_LIMIT { item.uid } else { 0 },
        if item.gid < OCTAL_7_LIMIT { item.gid } else { 0 },
        &item.uname,
        &item.gname,
    );
    header.set_cksum();
    out.extend_from_slice(header.as_bytes());
    out
}

/// A ustar header whose fields are given in range; values too long for
/// their field are cut, because a PAX record carries the full value.
#[allow(clippy::too_many_arguments)]
fn ustar_header(
    name: &[u8],
    entry_type: EntryType,
    mode: u32,
    size: u64,
    mtime: u64,
    link: Option<&[u8]>,
    uid: u64,
    gid: u64,
    uname: &str,
    gname: &str,
) -> Header {
    let mut header = Header::new_ustar();
    header.set_entry_type(entry_type);
    header.set_mode(mode);
    header.set_size(size);
    header.set_mtime(mtime);
    header.set_uid(uid);
    header.set_gid(gid);
    // ustar headers always exist in a Header from new_ustar.
    if let Some(ustar) = header.as_ustar_mut() {
        put(&mut ustar.name, name);
        put(&mut ustar.linkname, link.unwrap_or_default());
        put(&mut ustar.uname, uname.as_bytes());
        put(&mut ustar.gname, gname.as_bytes());
        ustar.dev_major = *b"0000000\0";
        ustar.dev_minor = *b"0000000\0";
    }
    header
}

fn put(field: &mut [u8], value: &[u8]) {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
}

/// PAX records: `"<length> <key>=<value>\n"`, where length counts the whole
/// record including its own digits.
fn pax_body(records: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (key, value) in records {
        let rest = key.len() + value.len() + 3;
        let mut length = rest + rest.to_string().len();
        if length.to_string().len() != rest.to_string().len() {
            length = rest + length.to_string().len();
        }
        body.extend_from_slice(length.to_string().as_bytes());
        body.push(b' ');
        body.extend_from_slice(key.as_bytes());
        body.push(b'=');
        body.extend_from_slice(value);
        body.push(b'\n');
    }
    body
}

/// Reads `size` bytes of a source straight into the stream and fails if the
/// file is shorter or longer than when it was planned.
pub(crate) fn check_source_length(read: u64, size: u64, extra: usize, path: &std::path::Path) -> Result<(), Error> {
    if read < size {
        return Err(Error::SourceChanged {
            path: path.to_path_buf(),
            detail: format!("it shrank from {size} to {read} bytes"),
        });
    }
    if extra > 0 {
        return Err(Error::SourceChanged { path: path.to_path_buf(), detail: format!("it grew beyond {size} bytes") });
    }
    Ok(())
}

/// Reads until `buf` is full or the reader ends.
pub(crate) fn read_into(reader: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        let body = pax_body(&[("path", vec![b'a'; 94])]);
        assert_eq!(body.len(), 104);
        assert!(body.starts_with(b"104 path="));
        let body = pax_body(&[("path", vec![b'a'; 5])]);
        assert_eq!(body, b"14 path=aaaaa\n");
    }

    fn item(name: &[u8], kind: ItemKind) -> Item {
        Item {
            name: name.to_vec(),
            kind,
            mode: 0o644,
            uid: 0,
            gid: 0,
            uname: String::new(),
            gname: String::new(),
            origin: String::new(),
        }
    }

    fn read_back(blocks: &[u8]) -> (Vec<u8>, u64, u64) {
        let mut archive = tar::Archive::new(blocks);
        let mut entries = archive.entries().unwrap();
        let entry = entries.next().unwrap().unwrap();
        (entry.path_bytes().into_owned(), entry.size(), entry.header().uid().unwrap())
    }

    #[test]
    fn huge_files_and_ids_get_pax_records_and_zeroed_ustar_fields() {
        let size = 9u64 << 30;
        let mut huge = item(b"big.bin", ItemKind::Regular(Content::Bytes(Vec::new())));
        huge.kind = ItemKind::Regular(Content::File { source: "/dev/null".into(), size });
        huge.uid = 1 << 22;
        let blocks = header_blocks(&huge, 0);
        assert_eq!(blocks.len(), 3 * BLOCK as usize, "PAX header, its records, the ustar header");
        let records = String::from_utf8_lossy(&blocks[512..1024]).into_owned();
        assert!(records.contains(&format!("size={size}\n")) && records.contains("uid=4194304\n"), "{records}");
        let ustar = Header::from_byte_slice(&blocks[1024..]);
        assert_eq!(&ustar.as_old().size, b"00000000000\0", "no GNU base-256 numbers");
        // The reader needs the data to follow, so only the header is checked here.
        let mut with_data = blocks.clone();
        with_data.resize(with_data.len() + 1024, 0);
        let (_, read_size, uid) = read_back(&with_data);
        assert_eq!((read_size, uid), (size, 1 << 22));
    }

    #[test]
    fn long_and_non_utf8_names_use_pax_path() {
        let name = [b"dir/".as_slice(), &[0xff; 120]].concat();
        let blocks = header_blocks(&item(&name, ItemKind::Dir), 0);
        let records = &blocks[512..1024];
        assert!(String::from_utf8_lossy(records).contains("hdrcharset=BINARY\n"), "non-UTF-8 PAX values are declared");
        let mut with_end = blocks.clone();
        with_end.resize(with_end.len() + 1024, 0);
        let (path, _, _) = read_back(&with_end);
        assert_eq!(path, [name.as_slice(), b"/"].concat());
        let short = header_blocks(&item(b"caf\xe9", ItemKind::Dir), 0);
        assert_eq!(short.len(), BLOCK as usize, "short names need no PAX, whatever their encoding");
    }

    #[test]
    fn padding_rounds_to_blocks() {
        assert_eq!(padding(0), 0);
        assert_eq!(padding(1), 511);
        assert_eq!(padding(512), 0);
    }
}
