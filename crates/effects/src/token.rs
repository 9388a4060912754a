//! The one secret-string type: a GitHub token (for the REST client and for git's `fetch` and
//! `push`), or any credential read from the environment. Its `Debug` prints `***`, so a token
//! inside an options struct or an error cannot reach a log by accident; the text comes out only
//! through [`Token::secret`], at the one place that sends it.

use std::fmt;

/// A secret string whose `Debug` never shows it. No `Display`, no `Serialize`, on purpose.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(token: impl Into<String>) -> Token {
        Token(token.into())
    }

    /// The text, for an `Authorization` header (or git's equivalent) and nothing else.
    pub fn secret(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let t = Token::new("ghs_supersecret");
        assert_eq!(format!("{t:?}"), "***");
        assert_eq!(format!("{:?}", Some(t.clone())), "Some(***)");
        assert_eq!(t.secret(), "ghs_supersecret");
    }
}
