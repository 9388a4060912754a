//! A strict, position-keeping YAML reader for user-edited files.
//!
//! Request and config files are small, hand-written and hostile-by-default, so this reads YAML's
//! event stream (granit-parser, the parser behind serde-saphyr) into a tiny tree and refuses what a
//! policy file has no use for: anchors, aliases (so no alias bomb can expand), merge keys, tags,
//! several documents, duplicate keys and deep nesting. Every such problem is reported with its
//! position; the tree keeps going where it can so that one run shows them all.

use granit_parser::{Event, Parser, ScalarStyle, Span};

use crate::diag::{Code, DiagExt, Pos, Sink};

/// Files over this size are refused before parsing.
pub const MAX_FILE_BYTES: usize = 64 * 1024;
/// Deeper than any valid request (1) or config (4) needs; bounds recursion on hostile input.
const MAX_DEPTH: usize = 12;

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<Entry>),
    /// Something already reported (an alias, a tag, too deep): checks skip it silently.
    Invalid,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

impl Node {
    /// A plain `~`, `null` or empty scalar: YAML's null.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// What the value is, in words, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            _ if self.is_null() => "nothing (null)",
            Value::Scalar { text, plain: true } if is_bool(text) => "a boolean",
            Value::Scalar { .. } => "text",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
            Value::Invalid => "an invalid value",
        }
    }
}

/// YAML 1.2 core-schema booleans.
pub fn is_bool(text: &str) -> bool {
    matches!(text, "true" | "True" | "TRUE" | "false" | "False" | "FALSE")
}

/// Reads `bytes` as one strict YAML document. Problems go to `sink`; `None` when there is no
/// usable document at all (syntax error, empty file, over the size cap, not UTF-8).
pub fn parse(bytes: &[u8], sink: &mut Sink) -> Option<Node> {
    if bytes.len() > MAX_FILE_BYTES {
        sink.error(
            Code::FileTooLarge,
            Pos::START,
            format!(
                "the file is {} bytes; the limit is {MAX_FILE_BYTES} bytes (64 KiB)",
                bytes.len()
            ),
        )
        .with_help("a request or config file is a few lines; split or trim it");
        return None;
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        sink.error(Code::ReadError, Pos::START, "the file is not valid UTF-8")
            .with_help("save the file as UTF-8");
        return None;
    };
    // A UTF-8 BOM and CRLF line ends are what some editors write: fine, and positions are
    // unchanged by dropping them (the BOM sits before column 1; CR ends a line).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = if text.contains('\r') {
        text.replace("\r\n", "\n")
    } else {
        text.to_owned()
    };

    let mut events = Vec::new();
    for item in Parser::new_from_str(&text) {
        match item {
            Ok(ev) => events.push(ev),
            Err(e) => {
                let m = e.marker();
                sink.error(
                    Code::YamlSyntax,
                    pos_of(m.line(), m.col()),
                    format!("invalid YAML: {}", e.info()),
                );
                return None;
            }
        }
    }
    let mut reader = Reader {
        events,
        at: 0,
        sink,
    };
    reader.stream()
}

fn pos_of(line: usize, col: usize) -> Pos {
    Pos::new(
        line.max(1).min(u32::MAX as usize) as u32,
        (col + 1).min(u32::MAX as usize) as u32,
    )
}

fn start(span: &Span) -> Pos {
    pos_of(span.start.line(), span.start.col())
}

struct Reader<'s, 'i> {
    events: Vec<(Event<'i>, Span)>,
    at: usize,
    sink: &'s mut Sink,
}

impl<'i> Reader<'_, 'i> {
    fn next(&mut self) -> Option<(Event<'i>, Span)> {
        let ev = self.events.get(self.at).cloned();
        self.at += 1;
        ev
    }

    fn stream(&mut self) -> Option<Node> {
        let mut root = None;
        let mut documents = 0;
        while let Some((ev, span)) = self.next() {
            match ev {
                Event::DocumentStart(..) => {
                    documents += 1;
                    if documents > 1 {
                        self.sink
                            .error(Code::MultipleDocuments, start(&span), "a second YAML document starts here")
                            .with_help("put one request (or one config) in each file; remove the extra `---`");
                        break;
                    }
                    root = self.node(0);
                }
                Event::StreamEnd => break,
                _ => {}
            }
        }
        match root {
            Some(node) if !node.is_null() => Some(node),
            _ => {
                if documents <= 1 {
                    self.sink.error(
                        Code::EmptyFile,
                        Pos::START,
                        "the file holds no YAML document",
                    );
                }
                None
            }
        }
    }

    /// Reads one node; `None` only when the event stream ends early.
    fn node(&mut self, depth: usize) -> Option<Node> {
        let (ev, span) = self.next()?;
        let pos = start(&span);
        let (anchor, tagged) = match &ev {
            Event::Scalar(_, _, a, t)
            | Event::SequenceStart(_, a, t)
            | Event::MappingStart(_, a, t) => (*a != 0, t.is_some()),
            _ => (false, false),
        };
        let mut invalid = false;
        if anchor {
            self.sink
                .error(
                    Code::YamlAnchor,
                    pos,
                    "YAML anchors (`&name`) are not allowed here",
                )
                .with_help("write the value out in full; anchors hide what a reviewer approves");
            invalid = true;
        }
        if tagged {
            self.sink
                .error(
                    Code::YamlTag,
                    pos,
                    "YAML tags (`!tag`, `!!type`) are not allowed here",
                )
                .with_help("remove the tag and write a plain value");
            invalid = true;
        }
        let value = match ev {
            Event::Alias(_) => {
                self.sink
                    .error(
                        Code::YamlAlias,
                        pos,
                        "YAML aliases (`*name`) are not allowed here",
                    )
                    .with_help("write the value out in full");
                return Some(Node {
                    pos,
                    value: Value::Invalid,
                });
            }
            Event::Scalar(text, style, _, _) => Value::Scalar {
                text: text.into_owned(),
                plain: style == ScalarStyle::Plain,
            },
            Event::SequenceStart(..) | Event::MappingStart(..) if depth >= MAX_DEPTH => {
                self.sink.error(
                    Code::TooDeep,
                    pos,
                    format!("nested deeper than {MAX_DEPTH} levels"),
                );
                self.skip_rest_of_collection();
                return Some(Node {
                    pos,
                    value: Value::Invalid,
                });
            }
            Event::SequenceStart(..) => {
                let mut items = Vec::new();
                loop {
                    if matches!(
                        self.events.get(self.at),
                        Some((Event::SequenceEnd, _)) | None
                    ) {
                        self.at += 1;
                        break;
                    }
                    items.extend(self.node(depth + 1));
                }
                Value::Seq(items)
            }
            Event::MappingStart(..) => Value::Map(self.mapping(depth)),
            // Comments and other presentation events carry no data.
            _ => return self.node(depth),
        };
        Some(Node {
            pos,
            value: if invalid { Value::Invalid } else { value },
        })
    }

    fn mapping(&mut self, depth: usize) -> Vec<Entry> {
        let mut entries: Vec<Entry> = Vec::new();
        loop {
            if matches!(
                self.events.get(self.at),
                Some((Event::MappingEnd, _)) | None
            ) {
                self.at += 1;
                return entries;
            }
            let Some(key) = self.node(depth + 1) else {
                return entries;
            };
            let Some(value) = self.node(depth + 1) else {
                return entries;
            };
            let key_text = match &key.value {
                Value::Scalar { text, plain } => {
                    if *plain && text == "<<" {
                        self.sink
                            .error(
                                Code::YamlMergeKey,
                                key.pos,
                                "YAML merge keys (`<<`) are not allowed",
                            )
                            .with_help("write every key out in full");
                        continue;
                    }
                    text.clone()
                }
                Value::Invalid => continue,
                _ => {
                    self.sink.error(
                        Code::WrongType,
                        key.pos,
                        format!("a key must be text, found {}", key.kind()),
                    );
                    continue;
                }
            };
            if let Some(first) = entries.iter().find(|e| e.key == key_text) {
                let first_pos = first.key_pos;
                let file = self.sink.file().to_owned();
                self.sink
                    .error(
                        Code::DuplicateKey,
                        key.pos,
                        format!("`{}` is given twice", crate::names::escape(&key_text)),
                    )
                    .with_help("keep one; YAML parsers disagree on which one wins")
                    .with_note(&file, first_pos, "first given here");
                continue;
            }
            entries.push(Entry {
                key: key_text,
                key_pos: key.pos,
                value,
            });
        }
    }

    /// Skips events up to and including the end of the collection just opened.
    fn skip_rest_of_collection(&mut self) {
        let mut open = 1usize;
        while open > 0 {
            match self.events.get(self.at) {
                Some((Event::SequenceStart(..) | Event::MappingStart(..), _)) => open += 1,
                Some((Event::SequenceEnd | Event::MappingEnd, _)) => open -= 1,
                Some(_) => {}
                None => return,
            }
            self.at += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(src: &str) -> (Option<Node>, Vec<(String, u32, u32)>) {
        let mut sink = Sink::new("f.yaml");
        let node = parse(src.as_bytes(), &mut sink);
        let diags = sink
            .diags
            .iter()
            .map(|d| (d.code.to_string(), d.line, d.column))
            .collect();
        (node, diags)
    }

    #[test]
    fn plain_mapping_keeps_positions() {
        let (node, diags) = run("a: 1\nbb: \"two\"\n");
        assert!(diags.is_empty(), "{diags:?}");
        let Value::Map(entries) = node.unwrap().value else {
            panic!()
        };
        assert_eq!(entries[1].key, "bb");
        assert_eq!(entries[1].key_pos, Pos::new(2, 1));
        assert_eq!(entries[1].value.pos, Pos::new(2, 5));
        assert_eq!(
            entries[1].value.value,
            Value::Scalar {
                text: "two".into(),
                plain: false
            }
        );
    }

    #[test]
    fn hostile_structure_is_reported_all_at_once() {
        let (_, diags) = run("a: &x 1\nb: *x\nc: !!str 3\n<<: {d: 1}\na: 2\n");
        let codes: Vec<_> = diags.iter().map(|d| d.0.as_str()).collect();
        assert_eq!(
            codes,
            [
                "yaml-anchor",
                "yaml-alias",
                "yaml-tag",
                "yaml-merge-key",
                "duplicate-key"
            ]
        );
        assert_eq!((diags[1].1, diags[1].2), (2, 4));
        assert_eq!((diags[4].1, diags[4].2), (5, 1));
    }

    #[test]
    fn second_document_and_empty_file() {
        assert_eq!(
            run("a: 1\n---\nb: 2\n").1,
            [("multiple-documents".into(), 2, 1)]
        );
        assert_eq!(run("").1, [("empty-file".into(), 1, 1)]);
        assert_eq!(run("# only a comment\n").1, [("empty-file".into(), 1, 1)]);
    }

    #[test]
    fn bom_and_crlf_are_fine() {
        let (node, diags) = run("\u{feff}a: 1\r\nb: 2\r\n");
        assert!(diags.is_empty());
        let Value::Map(entries) = node.unwrap().value else {
            panic!()
        };
        assert_eq!(entries[1].key_pos, Pos::new(2, 1));
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let nest = |n: usize| "a: ".to_owned() + &"[".repeat(n) + &"]".repeat(n);
        assert_eq!(run(&nest(100)).1[0].0, "too-deep");
        // The parser's own flow-nesting limit stops far deeper input before we recurse.
        assert_eq!(run(&nest(20_000)).1[0].0, "yaml-syntax");
        let block: String = (0..200)
            .map(|i| format!("{}k{i}:\n", "  ".repeat(i)))
            .collect();
        assert_eq!(run(&block).1[0].0, "too-deep");
    }

    #[test]
    fn syntax_error_is_located() {
        let (node, diags) = run("a: [1, 2\nb: 3\n");
        assert!(node.is_none());
        assert_eq!(diags[0].0, "yaml-syntax");
    }

    #[test]
    fn oversize_and_non_utf8() {
        assert_eq!(
            run(&"#".repeat(MAX_FILE_BYTES + 1)).1[0].0,
            "file-too-large"
        );
        let mut sink = Sink::new("f");
        assert!(parse(&[0xff, 0xfe, 0x00], &mut sink).is_none());
        assert_eq!(sink.diags[0].code, Code::ReadError);
    }
}
