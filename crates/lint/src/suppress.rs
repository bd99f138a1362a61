//! `# pyoci: ignore[PYO020,PYO021]` (or a bare `# pyoci: ignore`) on a line silences the listed
//! codes (or every code) reported on that line.

use std::collections::HashMap;

#[derive(Debug, Default, Clone)]
pub(crate) struct Suppressions {
    /// 0-based line → codes; an empty list means every code.
    lines: HashMap<u32, Vec<String>>,
}

impl Suppressions {
    /// Reads the directive from one comment (`# ...`) found on 0-based `line`.
    pub fn add_comment(&mut self, line: u32, comment: &str) {
        let body = comment.trim_start_matches('#').trim();
        let Some(rest) = body.strip_prefix("pyoci:") else {
            return;
        };
        let rest = rest.trim_start();
        let Some(rest) = rest.strip_prefix("ignore") else {
            return;
        };
        let rest = rest.trim_start();
        let codes = if let Some(list) = rest.strip_prefix('[') {
            let Some((list, _)) = list.split_once(']') else {
                return;
            };
            list.split(',')
                .map(|code| code.trim().to_uppercase())
                .filter(|code| !code.is_empty())
                .collect()
        } else if rest.is_empty() || rest.starts_with(char::is_whitespace) {
            Vec::new()
        } else {
            return;
        };
        self.lines
            .entry(line)
            .or_default()
            .extend(codes.iter().cloned());
        if codes.is_empty() {
            self.lines.insert(line, Vec::new());
        }
    }

    pub fn is_suppressed(&self, line: u32, code: &str) -> bool {
        self.lines
            .get(&line)
            .is_some_and(|codes| codes.is_empty() || codes.iter().any(|c| c == code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_directives() {
        let mut s = Suppressions::default();
        s.add_comment(3, "# pyoci: ignore[PYO020, pyo021]");
        s.add_comment(5, "#pyoci: ignore");
        s.add_comment(7, "# pyoci: ignored");
        s.add_comment(9, "# not pyoci: ignore");
        assert!(s.is_suppressed(3, "PYO020"));
        assert!(s.is_suppressed(3, "PYO021"));
        assert!(!s.is_suppressed(3, "PYO022"));
        assert!(s.is_suppressed(5, "PYO050"));
        assert!(!s.is_suppressed(7, "PYO050"));
        assert!(!s.is_suppressed(9, "PYO050"));
    }
}
