//! `$VAR` / `${VAR}` substitution with the rules of Go's `os.Expand`, which CST applies to
//! command lines, file existence paths and setup environments: unknown names become empty,
//! `$` before a non-name stays, `${}` and an unclosed `${` are dropped, `$1`, `$$`, `$*` etc.
//! are one-character names.

use std::collections::BTreeMap;

pub fn expand(text: &str, env: &BTreeMap<String, String>) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied_from = 0;
    let mut j = 0;
    while j < bytes.len() {
        if bytes[j] == b'$' && j + 1 < bytes.len() {
            out.push_str(&text[copied_from..j]);
            let (name, width) = shell_name(&text[j + 1..]);
            match name {
                None if width > 0 => {}
                None => out.push('$'),
                Some(name) => out.push_str(env.get(name).map(String::as_str).unwrap_or("")),
            }
            j += width;
            copied_from = j + 1;
        }
        j += 1;
    }
    out.push_str(&text[copied_from.min(text.len())..]);
    out
}

fn is_special(b: u8) -> bool {
    matches!(
        b,
        b'*' | b'#' | b'$' | b'@' | b'!' | b'?' | b'-' | b'0'..=b'9'
    )
}

fn is_alnum(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphanumeric()
}

/// The name after a `$` and how many bytes it spans; `None` with a width means bad syntax.
fn shell_name(s: &str) -> (Option<&str>, usize) {
    let b = s.as_bytes();
    if b[0] == b'{' {
        if b.len() > 2 && is_special(b[1]) && b[2] == b'}' {
            return (Some(&s[1..2]), 3);
        }
        for i in 1..b.len() {
            if b[i] == b'}' {
                if i == 1 {
                    return (None, 2);
                }
                return (Some(&s[1..i]), i + 1);
            }
        }
        return (None, 1);
    }
    if is_special(b[0]) {
        return (Some(&s[0..1]), 1);
    }
    let width = b.iter().take_while(|c| is_alnum(**c)).count();
    if width == 0 {
        (None, 0)
    } else {
        (Some(&s[..width]), width)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_go_os_expand() {
        let env: BTreeMap<String, String> = [("HOME", "/home/nonroot"), ("A", "x")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(expand("$HOME/.cache", &env), "/home/nonroot/.cache");
        assert_eq!(expand("${HOME}x", &env), "/home/nonroot".to_string() + "x");
        assert_eq!(expand("$MISSING-$A", &env), "-x");
        assert_eq!(expand("cost: 5$", &env), "cost: 5$");
        assert_eq!(expand("a $ b", &env), "a $ b");
        assert_eq!(expand("$$", &env), "");
        assert_eq!(expand("${}z", &env), "z");
        assert_eq!(expand("${A", &env), "A");
        assert_eq!(expand("é$A€", &env), "éx€");
        assert_eq!(expand("plain", &env), "plain");
    }
}
