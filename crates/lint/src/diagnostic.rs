//! Diagnostics and how byte offsets become the 1-based line and column users see.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codes::{self, CodeInfo, Severity};

/// One finding, resolved to a position in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Diagnostic {
    /// The path as shown to users: relative to the directory pyoci was run from when the file is
    /// under it, with `/` separators.
    pub path: String,
    /// 1-based.
    pub line: u32,
    /// 1-based, counted in Unicode code points.
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
    #[serde(
        serialize_with = "serialize_code",
        deserialize_with = "deserialize_code"
    )]
    pub code: &'static CodeInfo,
    pub message: String,
}

fn serialize_code<S: Serializer>(
    code: &&'static CodeInfo,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(code.code)
}

fn deserialize_code<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<&'static CodeInfo, D::Error> {
    let code = String::deserialize(deserializer)?;
    codes::lookup(&code)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown diagnostic code {code}")))
}

impl Diagnostic {
    pub fn severity(&self) -> Severity {
        self.code.severity
    }

    /// `path:line:col: CODE message`
    pub fn to_text_line(&self) -> String {
        format!(
            "{}:{}:{}: {} {}",
            self.path, self.line, self.column, self.code.code, self.message
        )
    }

    pub(crate) fn sort_key(&self) -> (&str, u32, u32, &str, &str) {
        (
            &self.path,
            self.line,
            self.column,
            self.code.code,
            &self.message,
        )
    }
}

/// A finding inside one file, positioned by byte offsets into its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub start: u32,
    pub end: u32,
    pub code: &'static CodeInfo,
    pub message: String,
}

impl Finding {
    pub fn new(span: (u32, u32), code: &'static CodeInfo, message: impl Into<String>) -> Finding {
        Finding {
            start: span.0,
            end: span.1.max(span.0),
            code,
            message: message.into(),
        }
    }
}

/// Byte offset → (line, column), both 0-based, columns in code points.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> LineIndex<'a> {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, line_starts }
    }

    pub fn text(&self) -> &'a str {
        self.text
    }

    pub fn position(&self, offset: u32) -> (u32, u32) {
        let mut offset = (offset as usize).min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = match self.line_starts.binary_search(&offset) {
            Ok(line) => line,
            Err(next) => next - 1,
        };
        let column = self.text[self.line_starts[line]..offset].chars().count();
        (line as u32, column as u32)
    }

    pub fn resolve(&self, path: &str, finding: Finding) -> Diagnostic {
        let (line, column) = self.position(finding.start);
        let (end_line, end_column) = self.position(finding.end);
        Diagnostic {
            path: path.to_owned(),
            line: line + 1,
            column: column + 1,
            end_line: end_line + 1,
            end_column: end_column + 1,
            code: finding.code,
            message: finding.message,
        }
    }
}

/// A byte span `(start, end)` in a file.
pub(crate) type ByteSpanPair = (u32, u32);

/// A `--verbose` note inside one file: a check that stayed silent there, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NoteAt {
    pub start: u32,
    pub message: String,
}

impl NoteAt {
    pub fn new(start: u32, message: impl Into<String>) -> NoteAt {
        NoteAt {
            start,
            message: message.into(),
        }
    }
}

impl LineIndex<'_> {
    pub fn resolve_note(&self, path: &str, note: NoteAt) -> crate::Note {
        let (line, column) = self.position(note.start);
        crate::Note {
            path: path.to_owned(),
            line: line + 1,
            column: column + 1,
            message: note.message,
        }
    }
}
