//! Diagnostics are data: every check pushes a [`Diagnostic`]; renderers (text, JSON, GitHub
//! annotations) turn the same list into output. Wording lives with the check that found the
//! problem; codes live in [`Code`], which the README's table mirrors.

mod code;
mod render;

pub use code::Code;
pub use render::{
    Format, escape_data, escape_property, render, render_github, render_json, render_text,
};

use serde::Serialize;

/// A 1-based line and column in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

impl Pos {
    pub const START: Pos = Pos { line: 1, column: 1 };

    pub fn new(line: u32, column: u32) -> Self {
        Self { line, column }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A secondary location that explains where a rule came from ("max_duration 4h set here").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Note>,
}

impl Diagnostic {
    pub fn error(code: Code, file: &str, pos: Pos, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line: pos.line,
            column: pos.column,
            severity: Severity::Error,
            code,
            message: message.into(),
            help: None,
            notes: Vec::new(),
        }
    }

    pub fn warning(code: Code, file: &str, pos: Pos, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, file, pos, message)
        }
    }

    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.with_help(help);
        self
    }

    #[must_use]
    pub fn note(mut self, file: &str, pos: Pos, message: impl Into<String>) -> Self {
        self.with_note(file, pos, message);
        self
    }

    pub fn pos(&self) -> Pos {
        Pos::new(self.line, self.column)
    }
}

/// Collects diagnostics for one file, so checks only name the position and the words.
#[derive(Debug)]
pub struct Sink {
    file: String,
    pub diags: Vec<Diagnostic>,
}

impl Sink {
    pub fn new(file: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            diags: Vec::new(),
        }
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    /// Pushes an error and returns it for `.help(..)` / `.note(..)` chaining.
    pub fn error(&mut self, code: Code, pos: Pos, message: impl Into<String>) -> &mut Diagnostic {
        let d = Diagnostic::error(code, &self.file, pos, message);
        self.diags.push(d);
        self.diags.last_mut().expect("just pushed")
    }

    pub fn warning(&mut self, code: Code, pos: Pos, message: impl Into<String>) -> &mut Diagnostic {
        let d = Diagnostic::warning(code, &self.file, pos, message);
        self.diags.push(d);
        self.diags.last_mut().expect("just pushed")
    }

    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(|d| d.severity == Severity::Error)
    }
}

/// In-place builder methods for a diagnostic already pushed into a [`Sink`].
pub trait DiagExt {
    fn with_help(&mut self, help: impl Into<String>) -> &mut Self;
    fn with_note(&mut self, file: &str, pos: Pos, message: impl Into<String>) -> &mut Self;
}

impl DiagExt for Diagnostic {
    fn with_help(&mut self, help: impl Into<String>) -> &mut Self {
        self.help = Some(help.into());
        self
    }

    fn with_note(&mut self, file: &str, pos: Pos, message: impl Into<String>) -> &mut Self {
        self.notes.push(Note {
            file: file.to_owned(),
            line: pos.line,
            column: pos.column,
            message: message.into(),
        });
        self
    }
}
