//! Names that end up inside URLs: Key Vault vault and secret names, and request ids.
//!
//! Each type can only be built through its validating constructor, so a value of the type is
//! proof that the string cannot change the shape of a URL path (no `/`, `..`, `?`, `%`, `#`,
//! whitespace or non-ASCII look-alikes).

use std::fmt;

/// Why a name was refused; the message is written for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(pub String);

/// A Key Vault name: 3-24 characters, ASCII letters, digits and dashes, starting with a letter,
/// ending with a letter or digit, no consecutive dashes (Azure's rules).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct VaultName(String);

/// A Key Vault secret name: 1-127 ASCII letters, digits and dashes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct SecretName(String);

impl VaultName {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let len = s.chars().count();
        if !(3..=24).contains(&len) {
            return Err(NameError(format!(
                "vault name `{}` is {len} characters long; Key Vault names are 3 to 24 characters",
                escape(s)
            )));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(NameError(format!(
                "vault name `{}` contains {}; only ASCII letters, digits and dashes are allowed",
                escape(s),
                describe(c)
            )));
        }
        if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(NameError(format!(
                "vault name `{s}` must start with a letter"
            )));
        }
        if s.ends_with('-') {
            return Err(NameError(format!(
                "vault name `{s}` must end with a letter or digit"
            )));
        }
        if s.contains("--") {
            return Err(NameError(format!(
                "vault name `{s}` contains consecutive dashes, which Key Vault does not allow"
            )));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl SecretName {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s.is_empty() {
            return Err(NameError("secret name is empty".into()));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(NameError(format!(
                "secret name `{}` contains {}; Key Vault secret names are ASCII letters, digits and dashes only",
                escape(s),
                describe(c)
            )));
        }
        if s.len() > 127 {
            return Err(NameError(format!(
                "secret name is {} characters long; the limit is 127",
                s.len()
            )));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VaultName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Names a character so that invisible or look-alike ones are visible in a message.
pub fn describe(c: char) -> String {
    match c {
        '/' | '?' | '#' | '%' | '*' | '.' | '\\' | '&' | '=' | '+' | ':' | '@' => {
            format!("`{c}`, which would change the URL")
        }
        ' ' => "a space".into(),
        c if c.is_ascii_graphic() => format!("`{c}`"),
        c => format!("the character U+{:04X}", c as u32),
    }
}

/// Escapes control and non-ASCII characters so hostile input cannot forge output lines.
pub fn escape(s: &str) -> String {
    s.chars().flat_map(char::escape_default).take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_names_follow_azure_rules() {
        for ok in [
            "abc",
            "flowlibs-demo-kv",
            "a1-b2",
            "A23456789012345678901234",
        ] {
            assert!(VaultName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "1abc",
            "-abc",
            "abc-",
            "a--b",
            "a_b",
            "a.b",
            "a/b",
            "kv?x",
            "kv#x",
            "kv%2f",
            "kv x",
            "kvé",
            "kv\u{2010}x",
            "A234567890123456789012345",
            "",
        ] {
            assert!(VaultName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secret_names_follow_key_vault_rules() {
        assert!(SecretName::parse("demo-api-key").is_ok());
        assert!(SecretName::parse(&"a".repeat(127)).is_ok());
        for bad in [
            "",
            "a/b",
            "..",
            "a?b",
            "a%2F",
            "a#b",
            "a b",
            "a*",
            "ＡＢＣ",
            "a\u{0430}",
            &"a".repeat(128),
        ] {
            assert!(SecretName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn describe_makes_look_alikes_visible() {
        assert_eq!(describe('\u{0430}'), "the character U+0430");
        assert_eq!(describe('/'), "`/`, which would change the URL");
    }
}
