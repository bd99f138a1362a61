//! The applets a busybox binary provides, read from the binary without running it.
//!
//! busybox keeps its applet names as one sorted run of NUL-terminated strings that starts with
//! `[` and `[[` and ends with an empty string; `busybox --list` prints exactly that table.

/// The applet names in the binary's own order, or None if the table is not found.
pub fn applet_names(binary: &[u8]) -> Option<Vec<String>> {
    const START: &[u8] = b"[\0[[\0";
    let start = binary.windows(START.len()).position(|w| w == START)?;
    let mut names = Vec::new();
    let mut rest = &binary[start..];
    loop {
        let end = rest.iter().position(|&b| b == 0)?;
        let name = &rest[..end];
        if name.is_empty() {
            break;
        }
        let valid = name.len() <= 64
            && name
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'[' | b'-' | b'_' | b'.'));
        if !valid {
            return None;
        }
        names.push(String::from_utf8_lossy(name).into_owned());
        rest = &rest[end + 1..];
    }
    (names.len() > 2).then_some(names)
}

#[cfg(test)]
mod tests {
    use super::applet_names;

    #[test]
    fn reads_the_name_table() {
        let binary = b"\x7fELF junk\0[\0[[\0ash\0busybox\0ls\0\0more";
        assert_eq!(
            applet_names(binary),
            Some(vec!["[".into(), "[[".into(), "ash".into(), "busybox".into(), "ls".into()])
        );
        assert_eq!(applet_names(b"no table here"), None);
    }
}
