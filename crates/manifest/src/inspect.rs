//! `pyoci inspect`: what is in an image, layer by layer, and what it runs.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::layout::Layout;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageReport {
    pub manifest_digest: String,
    pub config_digest: String,
    pub platform: String,
    pub created: Option<String>,
    pub layers: Vec<LayerReport>,
    pub config: RuntimeConfig,
    pub annotations: BTreeMap<String, String>,
    /// Compressed layers only: what a registry stores and a pull downloads.
    pub layers_size: u64,
    /// Layers plus config plus manifest.
    pub total_size: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerReport {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    pub diff_id: Option<String>,
    pub created_by: Option<String>,
}

/// The execution parameters of the config, including Docker's Healthcheck.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeConfig {
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub exposed_ports: Vec<String>,
    pub volumes: Vec<String>,
    pub stop_signal: Option<String>,
    pub healthcheck: Option<Value>,
}

/// Reads and summarises one image of a layout (see [`Layout::image`] for `ref_name`).
pub fn inspect(layout_path: &Path, ref_name: Option<&str>) -> Result<ImageReport> {
    let layout = Layout::open(layout_path)?;
    let image = layout.image(ref_name)?;
    let config_digest = image.manifest.config().digest().to_string();
    let config: Value = serde_json::from_slice(&image.config_bytes).map_err(|source| Error::Json {
        path: layout.blob_path(&config_digest),
        error: source,
    })?;

    let layer_history: Vec<Option<String>> = config
        .get("history")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter(|entry| !entry.get("empty_layer").and_then(Value::as_bool).unwrap_or(false))
                .map(|entry| entry.get("created_by").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let diff_ids = image.config.rootfs().diff_ids();
    let layers: Vec<LayerReport> = image
        .manifest
        .layers()
        .iter()
        .enumerate()
        .map(|(i, layer)| LayerReport {
            digest: layer.digest().to_string(),
            media_type: layer.media_type().to_string(),
            size: layer.size(),
            diff_id: diff_ids.get(i).cloned(),
            created_by: layer_history.get(i).cloned().flatten(),
        })
        .collect();
    let layers_size = layers.iter().map(|l| l.size).sum::<u64>();
    let total_size = layers_size + image.config_bytes.len() as u64 + image.manifest_bytes.len() as u64;

    let runtime = config.get("config").cloned().unwrap_or(Value::Null);
    let strings = |key: &str| -> Option<Vec<String>> {
        runtime
            .get(key)
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(Value::as_str).map(str::to_owned).collect())
    };
    let text = |key: &str| runtime.get(key).and_then(Value::as_str).map(str::to_owned);
    let keys = |key: &str| -> Vec<String> {
        runtime
            .get(key)
            .and_then(Value::as_object)
            .map(|map| map.keys().cloned().collect())
            .unwrap_or_default()
    };
    let labels = runtime
        .get("Labels")
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let config_summary = RuntimeConfig {
        user: text("User"),
        working_dir: text("WorkingDir"),
        entrypoint: strings("Entrypoint"),
        cmd: strings("Cmd"),
        env: strings("Env").unwrap_or_default(),
        labels,
        exposed_ports: keys("ExposedPorts"),
        volumes: keys("Volumes"),
        stop_signal: text("StopSignal"),
        healthcheck: runtime.get("Healthcheck").cloned(),
    };

    let platform = [image.config.os().to_string(), image.config.architecture().to_string()]
        .into_iter()
        .chain(image.config.variant().clone())
        .collect::<Vec<_>>()
        .join("/");
    Ok(ImageReport {
        manifest_digest: image.manifest_digest.clone(),
        config_digest,
        platform,
        created: image.config.created().clone(),
        layers,
        config: config_summary,
        annotations: image
            .manifest
            .annotations()
            .clone()
            .map(|a| a.into_iter().collect())
            .unwrap_or_default(),
        layers_size,
        total_size,
    })
}

/// Sizes as people read them, in decimal units like `docker images`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn short_media_type(media_type: &str) -> &str {
    media_type
        .strip_prefix("application/vnd.oci.image.layer.v1.")
        .or_else(|| media_type.strip_prefix("application/vnd.docker.image.rootfs.diff."))
        .unwrap_or(media_type)
}

fn shorten(text: &str, limit: usize) -> String {
    let single_line = text.replace(['\n', '\t'], " ");
    if single_line.chars().count() <= limit {
        single_line
    } else {
        let mut cut: String = single_line.chars().take(limit - 1).collect();
        cut.push('…');
        cut
    }
}

fn json_list(items: &Option<Vec<String>>) -> String {
    match items {
        Some(items) => serde_json::to_string(items).unwrap_or_default(),
        None => "-".to_owned(),
    }
}

impl fmt::Display for ImageReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Image     {}", self.manifest_digest)?;
        writeln!(f, "Config    {}", self.config_digest)?;
        writeln!(f, "Platform  {}", self.platform)?;
        writeln!(f, "Created   {}", self.created.as_deref().unwrap_or("-"))?;
        writeln!(f)?;

        let rows: Vec<[String; 5]> = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, layer)| {
                [
                    (i + 1).to_string(),
                    layer.digest.chars().take(19).collect(),
                    human_size(layer.size),
                    short_media_type(&layer.media_type).to_owned(),
                    shorten(layer.created_by.as_deref().unwrap_or_default(), 72),
                ]
            })
            .collect();
        let heading = ["#", "DIGEST", "SIZE", "TYPE", "CREATED BY"];
        let widths: Vec<usize> = (0..5)
            .map(|c| rows.iter().map(|r| r[c].chars().count()).chain([heading[c].len()]).max().unwrap_or(0))
            .collect();
        let mut table = String::new();
        for row in std::iter::once(heading.map(str::to_owned)).chain(rows) {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c == 2 {
                    let _ = write!(line, "{cell:>width$}  ", width = widths[c]);
                } else {
                    let _ = write!(line, "{cell:<width$}  ", width = widths[c]);
                }
            }
            table.push_str(line.trim_end());
            table.push('\n');
        }
        f.write_str(&table)?;
        writeln!(
            f,
            "\nTotal size {} ({} bytes: {} layers {} bytes, config and manifest {} bytes)",
            human_size(self.total_size),
            self.total_size,
            self.layers.len(),
            self.layers_size,
            self.total_size - self.layers_size
        )?;
        writeln!(f)?;

        let config = &self.config;
        writeln!(f, "User        {}", config.user.as_deref().filter(|u| !u.is_empty()).unwrap_or("- (root)"))?;
        writeln!(f, "WorkingDir  {}", config.working_dir.as_deref().unwrap_or("-"))?;
        writeln!(f, "Entrypoint  {}", json_list(&config.entrypoint))?;
        writeln!(f, "Cmd         {}", json_list(&config.cmd))?;
        let mut list = |name: &str, items: Vec<String>| -> fmt::Result {
            for (i, item) in items.iter().enumerate() {
                writeln!(f, "{:<12}{item}", if i == 0 { name } else { "" })?;
            }
            if items.is_empty() {
                writeln!(f, "{name:<12}-")?;
            }
            Ok(())
        };
        list("Env", config.env.clone())?;
        list("Labels", config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect())?;
        list("Ports", config.exposed_ports.clone())?;
        list("Volumes", config.volumes.clone())?;
        list("Annotations", self.annotations.iter().map(|(k, v)| format!("{k}={v}")).collect())?;
        if let Some(signal) = &config.stop_signal {
            writeln!(f, "StopSignal  {signal}")?;
        }
        if let Some(healthcheck) = &config.healthcheck {
            writeln!(f, "Healthcheck {healthcheck}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::human_size;

    #[test]
    fn sizes_in_decimal_units() {
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(31_581_000), "31.6 MB");
    }
}
