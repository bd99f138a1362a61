//! Reading a file into text the evaluator can take, without letting a hostile file crash it:
//! size and nesting limits are checked before parsing, encoding problems become diagnostics.

use std::fs;
use std::io::Read;
use std::path::Path;

use crate::codes;
use crate::diagnostic::Finding;

/// Files larger than this are reported, not evaluated.
pub(crate) const MAX_FILE_BYTES: u64 = 8 << 20;

/// An estimate of how deep the syntax tree of an expression may get. The parser and compiler
/// recurse on that depth, so deeper input would overflow the stack.
pub(crate) const MAX_NESTING: usize = 400;

pub(crate) struct Source {
    pub text: String,
    pub findings: Vec<Finding>,
    /// False when the text must not be parsed or evaluated (findings say why).
    pub evaluate: bool,
}

pub(crate) fn read(path: &Path) -> std::io::Result<Source> {
    Ok(match read_bytes(path)? {
        Ok(bytes) => from_bytes(bytes),
        Err(too_large) => Source {
            text: String::new(),
            findings: vec![too_large],
            evaluate: false,
        },
    })
}

/// The file's bytes, or the finding that it is too large to read.
pub(crate) fn read_bytes(path: &Path) -> std::io::Result<Result<Vec<u8>, Finding>> {
    let file = fs::File::open(path)?;
    let size = file.metadata()?.len();
    if size > MAX_FILE_BYTES {
        return Ok(Err(too_large(size)));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Ok(Err(too_large(bytes.len() as u64)));
    }
    Ok(Ok(bytes))
}

fn too_large(size: u64) -> Finding {
    Finding::new(
        (0, 0),
        codes::LIMIT_EXCEEDED,
        format!(
            "file is {size} bytes; files over {} MiB are not linted",
            MAX_FILE_BYTES >> 20
        ),
    )
}

pub(crate) fn from_bytes(bytes: Vec<u8>) -> Source {
    let mut findings = Vec::new();
    if bytes.len() as u64 > MAX_FILE_BYTES {
        findings.push(too_large(bytes.len() as u64));
        return Source {
            text: String::new(),
            findings,
            evaluate: false,
        };
    }
    let mut text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            let offset = err.utf8_error().valid_up_to() as u32;
            let bad = err
                .as_bytes()
                .get(offset as usize)
                .copied()
                .unwrap_or_default();
            findings.push(Finding::new(
                (offset, offset),
                codes::INVALID_ENCODING,
                format!("file is not valid UTF-8 (byte 0x{bad:02x} at offset {offset})"),
            ));
            String::from_utf8_lossy(err.as_bytes()).into_owned()
        }
    };
    if let Some(rest) = text.strip_prefix('\u{feff}') {
        text = rest.to_owned();
    }
    if let Some(offset) = too_deep(&text) {
        findings.push(Finding::new(
            (offset as u32, offset as u32),
            codes::LIMIT_EXCEEDED,
            format!("expression nesting is deeper than the linter's limit of {MAX_NESTING}; the file is not evaluated"),
        ));
        return Source {
            text,
            findings,
            evaluate: false,
        };
    }
    Source {
        text,
        findings,
        evaluate: true,
    }
}

/// The byte offset where the estimated syntax depth first exceeds [`MAX_NESTING`].
///
/// The estimate over-counts on purpose: every bracket, every indentation level and every
/// operator since the last `,` `:` `=` or `;` at the same bracket level adds one.
fn too_deep(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    // Operators counted at each open bracket level; index 0 is the statement level.
    let mut levels: Vec<usize> = vec![0];
    let mut operators = 0usize;
    // Open `lambda`s at each level, and whether the innermost one is still in its parameters.
    // A lambda's body nests inside it, and the `:` that starts the body does not end it, so
    // `lambda: lambda: ...` deepens the tree at every step; a `,` after a body ends them.
    let mut lambdas: Vec<(usize, bool)> = vec![(0, false)];
    let mut open_lambdas = 0usize;
    let mut indents: Vec<usize> = Vec::new();
    let mut at_line_start = true;
    let mut i = 0;
    while i < bytes.len() {
        if at_line_start && levels.len() == 1 {
            let width = bytes[i..]
                .iter()
                .take_while(|b| matches!(b, b' ' | b'\t'))
                .count();
            let rest = &bytes[i + width..];
            let blank = rest
                .first()
                .is_none_or(|b| matches!(b, b'\n' | b'\r' | b'#'));
            if !blank {
                while indents.last().is_some_and(|&w| w >= width) {
                    indents.pop();
                }
                if width > 0 {
                    indents.push(width);
                }
            }
            i += width;
            at_line_start = false;
            continue;
        }
        at_line_start = false;
        let byte = bytes[i];
        let mut step = 1;
        let in_params = lambdas.last().is_some_and(|(_, params)| *params);
        match byte {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'\'' | b'"' => {
                i = skip_string(bytes, i);
                continue;
            }
            b'\n' => {
                if levels.len() == 1 {
                    operators -= levels[0];
                    levels[0] = 0;
                    open_lambdas -= lambdas[0].0;
                    lambdas[0] = (0, false);
                }
                at_line_start = true;
            }
            b'(' | b'[' | b'{' => {
                levels.push(0);
                lambdas.push((0, false));
            }
            b')' | b']' | b'}' if levels.len() > 1 => {
                operators -= levels.pop().unwrap_or_default();
                open_lambdas -= lambdas.pop().map_or(0, |(open, _)| open);
            }
            b':' if in_params => {
                if let Some(last) = lambdas.last_mut() {
                    last.1 = false;
                }
            }
            b',' | b';' if !in_params => {
                reset_level(&mut levels, &mut operators);
                if let Some(last) = lambdas.last_mut() {
                    open_lambdas -= last.0;
                    *last = (0, false);
                }
            }
            b',' | b';' | b':' | b'=' if in_params => {}
            b',' | b';' | b':' => reset_level(&mut levels, &mut operators),
            b'=' if !matches!(bytes.get(i + 1), Some(b'='))
                && !matches!(
                    i.checked_sub(1).map(|p| bytes[p]),
                    Some(b'=' | b'!' | b'<' | b'>')
                ) =>
            {
                reset_level(&mut levels, &mut operators)
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'|' | b'&' | b'^' | b'~' | b'<' | b'>' | b'.'
            | b'=' | b'!' => count_operator(&mut levels, &mut operators),
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let word_len = bytes[i..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                    .count();
                let word = &bytes[i..i + word_len];
                // A string prefix (r"...", b'...') is part of the string.
                if word_len <= 2 && matches!(bytes.get(i + word_len), Some(b'\'' | b'"')) {
                    i = skip_string(bytes, i + word_len);
                    continue;
                }
                if word == b"lambda" {
                    if let Some(last) = lambdas.last_mut() {
                        *last = (last.0 + 1, true);
                        open_lambdas += 1;
                    }
                } else if matches!(
                    word,
                    b"not" | b"and" | b"or" | b"if" | b"else" | b"in" | b"for"
                ) {
                    count_operator(&mut levels, &mut operators);
                }
                step = word_len;
            }
            _ => {}
        }
        if levels.len() + operators + indents.len() + open_lambdas > MAX_NESTING {
            return Some(i);
        }
        i += step;
    }
    None
}

fn reset_level(levels: &mut [usize], operators: &mut usize) {
    if let Some(last) = levels.last_mut() {
        *operators -= *last;
        *last = 0;
    }
}

fn count_operator(levels: &mut [usize], operators: &mut usize) {
    if let Some(last) = levels.last_mut() {
        *last += 1;
        *operators += 1;
    }
}

/// The offset just past the string literal starting at `start` (a quote character).
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let triple = bytes.get(start..start + 3) == Some(&[quote, quote, quote][..]);
    let mut i = start + if triple { 3 } else { 1 };
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\n' if !triple => return i,
            b if b == quote => {
                if !triple {
                    return i + 1;
                }
                if bytes.get(i..i + 3) == Some(&[quote, quote, quote][..]) {
                    return i + 3;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_files_are_not_too_deep() {
        let build = "py_binary(\n    name = \"x\",\n    srcs = glob([\"*.py\"]) + [\"a.py\"],\n    deps = [\":a\", \"@pip//b:pkg\"],\n)\n";
        assert_eq!(too_deep(build), None);
        let long_list = format!(
            "X = [{}]\n",
            (0..100_000)
                .map(|i| format!("\"f{i} + x\""))
                .collect::<Vec<_>>()
                .join(", ")
        );
        assert_eq!(too_deep(&long_list), None);
    }

    #[test]
    fn deep_brackets_and_operator_chains_are_caught() {
        assert!(too_deep(&format!("x = {}1{}\n", "(".repeat(1000), ")".repeat(1000))).is_some());
        assert!(too_deep(&format!("x = 1{}\n", " + 1".repeat(1000))).is_some());
        assert!(too_deep(&format!("x = {}1\n", "not ".repeat(1000))).is_some());
        assert!(too_deep(&format!("x = {}1\n", "-".repeat(1000))).is_some());
    }

    #[test]
    fn nested_lambdas_are_caught_but_lambda_lists_are_not() {
        assert!(too_deep(&format!("x = {}1\n", "lambda: ".repeat(1000))).is_some());
        assert!(too_deep(&format!("x = {}1\n", "lambda a, b=1: ".repeat(1000))).is_some());
        let list = format!("x = [{}]\n", vec!["lambda a, b: a + b"; 5000].join(", "));
        assert_eq!(too_deep(&list), None);
    }

    #[test]
    fn strings_do_not_count() {
        assert_eq!(too_deep(&format!("x = \"{}\"\n", "(".repeat(1000))), None);
        assert_eq!(
            too_deep(&format!("x = '''{}'''\n", "[\n".repeat(1000))),
            None
        );
        assert_eq!(too_deep(&format!("# {}\n", "{".repeat(1000))), None);
    }
}
