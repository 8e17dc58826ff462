//! The Lua side: a tokenizer for Prosody config files (comments, both quote
//! styles, long strings) and a statement reader for `name = value`,
//! `VirtualHost "x"` and `Component "x" "type"`. Expressions are kept as
//! text, never evaluated.

use super::{Config, ConfigError, Section, Value};
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Str(String),
    Num(f64),
    Sym(String),
}

struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: usize,
}

impl Lexer<'_> {
    fn peek(&self, off: usize) -> u8 {
        self.src.get(self.pos + off).copied().unwrap_or(0)
    }

    fn bump(&mut self) -> u8 {
        let c = self.peek(0);
        self.pos += 1;
        if c == b'\n' {
            self.line += 1;
        }
        c
    }

    /// `[[`, `[=[`, ...: returns the level if a long bracket starts here.
    fn long_bracket(&self) -> Option<usize> {
        if self.peek(0) != b'[' {
            return None;
        }
        let mut level = 0;
        while self.peek(1 + level) == b'=' {
            level += 1;
        }
        (self.peek(1 + level) == b'[').then_some(level)
    }

    fn read_long(&mut self, level: usize) -> Option<String> {
        self.pos += level + 2;
        let close = format!("]{}]", "=".repeat(level));
        let rest = &self.src[self.pos..];
        let end = rest
            .windows(close.len())
            .position(|w| w == close.as_bytes())?;
        let text = String::from_utf8_lossy(&rest[..end]).into_owned();
        for _ in 0..end + close.len() {
            self.bump();
        }
        Some(text.strip_prefix('\n').map(str::to_owned).unwrap_or(text))
    }

    fn read_quoted(&mut self, quote: u8) -> Option<String> {
        self.bump();
        let mut out = Vec::new();
        loop {
            match self.bump() {
                0 | b'\n' => return None,
                c if c == quote => break,
                b'\\' => match self.bump() {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'z' => {
                        while self.peek(0).is_ascii_whitespace() {
                            self.bump();
                        }
                    }
                    b'x' => {
                        let hex = [self.bump(), self.bump()];
                        out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
                    }
                    d if d.is_ascii_digit() => {
                        let mut n = u32::from(d - b'0');
                        for _ in 0..2 {
                            if self.peek(0).is_ascii_digit() {
                                n = n * 10 + u32::from(self.bump() - b'0');
                            }
                        }
                        out.push(u8::try_from(n).ok()?);
                    }
                    0 => return None,
                    other => out.push(other),
                },
                c => out.push(c),
            }
        }
        Some(String::from_utf8_lossy(&out).into_owned())
    }

    fn next(&mut self) -> Result<Option<(Tok, usize)>, (usize, String)> {
        loop {
            while self.peek(0).is_ascii_whitespace() {
                self.bump();
            }
            if self.peek(0) == b'-' && self.peek(1) == b'-' {
                let line = self.line;
                self.pos += 2;
                if let Some(level) = self.long_bracket() {
                    self.read_long(level)
                        .ok_or((line, "unterminated --[[ comment".to_owned()))?;
                } else {
                    while !matches!(self.peek(0), b'\n' | 0) {
                        self.bump();
                    }
                }
                continue;
            }
            break;
        }
        let line = self.line;
        let c = self.peek(0);
        let tok = match c {
            0 => return Ok(None),
            b'"' | b'\'' => Tok::Str(
                self.read_quoted(c)
                    .ok_or((line, "unterminated string".to_owned()))?,
            ),
            b'[' if self.long_bracket().is_some() => {
                let level = self.long_bracket().unwrap_or(0);
                Tok::Str(
                    self.read_long(level)
                        .ok_or((line, "unterminated [[ string".to_owned()))?,
                )
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.pos;
                while self.peek(0).is_ascii_alphanumeric() || self.peek(0) == b'_' {
                    self.bump();
                }
                Tok::Name(String::from_utf8_lossy(&self.src[start..self.pos]).into_owned())
            }
            c if c.is_ascii_digit() => {
                let start = self.pos;
                while self.peek(0).is_ascii_alphanumeric() || self.peek(0) == b'.' {
                    self.bump();
                }
                let text = String::from_utf8_lossy(&self.src[start..self.pos]).into_owned();
                Tok::Num(text.parse().unwrap_or(f64::NAN))
            }
            b'.' if self.peek(1) == b'.' => {
                self.pos += 2;
                Tok::Sym("..".into())
            }
            _ => {
                self.bump();
                Tok::Sym((c as char).to_string())
            }
        };
        Ok(Some((tok, line)))
    }
}

fn render(tokens: &[(Tok, usize)]) -> String {
    let parts: Vec<String> = tokens
        .iter()
        .map(|(t, _)| match t {
            Tok::Name(n) | Tok::Sym(n) => n.clone(),
            Tok::Str(s) => format!("{s:?}"),
            Tok::Num(n) => n.to_string(),
        })
        .collect();
    parts.join(" ")
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    i: usize,
}

impl Parser {
    fn peek(&self, off: usize) -> Option<&Tok> {
        self.toks.get(self.i + off).map(|(t, _)| t)
    }

    fn line(&self) -> usize {
        self.toks.get(self.i).map_or(0, |(_, l)| *l)
    }

    fn is_sym(&self, off: usize, s: &str) -> bool {
        matches!(self.peek(off), Some(Tok::Sym(x)) if x == s)
    }

    /// A simple value, or `None` (without consuming) when it is an expression.
    fn simple(&mut self) -> Option<Value> {
        let v = match self.peek(0)? {
            Tok::Str(s) => Value::Str(s.clone()),
            Tok::Num(n) => Value::Num(*n),
            Tok::Name(n) if n == "true" => Value::Bool(true),
            Tok::Name(n) if n == "false" => Value::Bool(false),
            Tok::Name(n) if n == "nil" => Value::Nil,
            Tok::Sym(s) if s == "{" => return self.table(),
            _ => return None,
        };
        self.i += 1;
        Some(v)
    }

    fn table(&mut self) -> Option<Value> {
        let start = self.i;
        self.i += 1;
        let mut items = Vec::new();
        loop {
            if self.is_sym(0, "}") {
                self.i += 1;
                return Some(Value::List(items));
            }
            if self.is_sym(0, ",") || self.is_sym(0, ";") {
                self.i += 1;
                continue;
            }
            if self.peek(0).is_none() {
                // An unterminated table: the rest of the file is not a value.
                self.i = start;
                return None;
            }
            // `key = value` and `["key"] = value` items.
            if matches!(self.peek(0), Some(Tok::Name(_))) && self.is_sym(1, "=") {
                self.i += 2;
            } else if self.is_sym(0, "[") && self.is_sym(2, "]") && self.is_sym(3, "=") {
                self.i += 4;
            }
            match self.value_or_expression() {
                Some(v) => items.push(v),
                None => {
                    self.i = start;
                    return None;
                }
            }
        }
    }

    /// A value; an expression becomes `Unreadable` with its text.
    fn value_or_expression(&mut self) -> Option<Value> {
        let start = self.i;
        if let Some(v) = self.simple() {
            let continues = matches!(self.peek(0), Some(Tok::Sym(s)) if matches!(s.as_str(), ".." | "(" | "." | "+" | "-" | "*" | "/" | "[" | ":"))
                || matches!(self.peek(0), Some(Tok::Name(n)) if n == "or" || n == "and");
            if !continues {
                return Some(v);
            }
        }
        self.i = start;
        // Consume one expression: to the end of its line, with brackets balanced.
        let line = self.line();
        let mut depth = 0i32;
        while let Some(t) = self.peek(0) {
            if depth == 0 && self.line() != line && self.i > start {
                break;
            }
            if depth == 0 && (self.is_sym(0, ",") || self.is_sym(0, "}")) && self.i > start {
                break;
            }
            match t {
                Tok::Sym(s) if matches!(s.as_str(), "(" | "{" | "[") => depth += 1,
                Tok::Sym(s) if matches!(s.as_str(), ")" | "}" | "]") => depth -= 1,
                _ => {}
            }
            self.i += 1;
            if depth < 0 {
                return None;
            }
        }
        if self.i == start {
            // Nothing consumed: no value here (end of input, or a stray token).
            return None;
        }
        Some(Value::Unreadable(render(&self.toks[start..self.i])))
    }
}

/// Parses config text into global options and sections (`path` is for messages).
pub(super) fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let mut lexer = Lexer {
        src: text.as_bytes(),
        pos: 0,
        line: 1,
    };
    let mut toks = Vec::new();
    loop {
        match lexer.next() {
            Ok(Some(t)) => toks.push(t),
            Ok(None) => break,
            Err((line, what)) => {
                return Err(ConfigError::Syntax {
                    path: path.to_owned(),
                    line,
                    what,
                })
            }
        }
    }
    let mut p = Parser { toks, i: 0 };
    let mut config = Config {
        path: path.to_owned(),
        ..Config::default()
    };
    while let Some(tok) = p.peek(0).cloned() {
        match tok {
            Tok::Name(kw) if (kw == "VirtualHost" || kw == "Component") => {
                p.i += 1;
                let paren = p.is_sym(0, "(");
                if paren {
                    p.i += 1;
                }
                let Some(Tok::Str(name)) = p.peek(0).cloned() else {
                    continue;
                };
                p.i += 1;
                if paren && p.is_sym(0, ")") {
                    p.i += 1;
                }
                if kw == "Component" && matches!(p.peek(0), Some(Tok::Str(_))) {
                    p.i += 1;
                }
                config.sections.push(Section {
                    virtual_host: kw == "VirtualHost",
                    name,
                    options: Vec::new(),
                });
            }
            Tok::Name(name) if p.is_sym(1, "=") && !p.is_sym(2, "=") => {
                p.i += 2;
                let value = p
                    .value_or_expression()
                    .unwrap_or(Value::Unreadable(String::new()));
                match config.sections.last_mut() {
                    Some(section) => section.options.push((name, value)),
                    None => config.global.push((name, value)),
                }
            }
            _ => p.i += 1,
        }
    }
    Ok(config)
}
