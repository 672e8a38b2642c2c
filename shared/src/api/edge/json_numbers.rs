//! The numbers of a JSON text as written, with their paths. `serde_json` rounds a
//! number it cannot hold in 64 bits to `f64` (its `arbitrary_precision` feature
//! would keep the text, but it changes how every crate in the build reads numbers:
//! lambda_http's untagged `RequestContext` then fails on its integer fields, see
//! <https://github.com/serde-rs/json/issues/559>). So the body's text is read once
//! more, here, after `serde_json` accepted it.

use crate::domain::JsonPath;

/// Deeper than `serde_json` parses (128), so a body it accepted is scanned whole.
const MAX_DEPTH: usize = 256;

/// The numbers under the top-level member `member` of the JSON object `text`, in
/// document order, as (path, text). Text that is not JSON ends the scan early; it
/// never panics.
pub(crate) fn numbers_in<'t>(text: &'t str, member: &str) -> Vec<(JsonPath, &'t str)> {
    let mut scan = Scan {
        text,
        at: 0,
        found: Vec::new(),
    };
    scan.top_level(member);
    scan.found
}

struct Scan<'t> {
    text: &'t str,
    at: usize,
    found: Vec<(JsonPath, &'t str)>,
}

impl<'t> Scan<'t> {
    fn peek(&mut self) -> Option<u8> {
        let bytes = self.text.as_bytes();
        while bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
        bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    fn top_level(&mut self, member: &str) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let name = self.string()?;
            self.eat(b':')?;
            let path = (name == member).then(|| JsonPath::member(member));
            self.value(path.as_ref(), 1)?;
            if self.eat(b',').is_none() {
                return self.eat(b'}');
            }
        }
    }

    /// Skips one value, recording its numbers when `path` says where it is.
    fn value(&mut self, path: Option<&JsonPath>, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'{' => {
                self.at += 1;
                if self.eat(b'}').is_some() {
                    return Some(());
                }
                loop {
                    let name = self.string()?;
                    self.eat(b':')?;
                    self.value(path.map(|p| p.key(&name)).as_ref(), depth + 1)?;
                    if self.eat(b',').is_none() {
                        return self.eat(b'}');
                    }
                }
            }
            b'[' => {
                self.at += 1;
                if self.eat(b']').is_some() {
                    return Some(());
                }
                for index in 0.. {
                    self.value(path.map(|p| p.index(index)).as_ref(), depth + 1)?;
                    if self.eat(b',').is_none() {
                        break;
                    }
                }
                self.eat(b']')
            }
            b'"' => self.string().map(drop),
            b'-' | b'0'..=b'9' => {
                let token = self.token(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))?;
                if let Some(path) = path {
                    self.found.push((path.clone(), token));
                }
                Some(())
            }
            _ => self.token(|b| b.is_ascii_alphabetic()).map(drop), // true, false, null
        }
    }

    /// The bytes from here while `part` holds; at least one.
    fn token(&mut self, part: impl Fn(u8) -> bool) -> Option<&'t str> {
        let start = self.at;
        let bytes = self.text.as_bytes();
        while bytes.get(self.at).copied().is_some_and(&part) {
            self.at += 1;
        }
        (self.at > start).then(|| self.text.get(start..self.at))?
    }

    /// A string, decoded (member names are part of a path).
    fn string(&mut self) -> Option<String> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.at;
        self.at += 1;
        let bytes = self.text.as_bytes();
        loop {
            match bytes.get(self.at)? {
                b'\\' => self.at += 2,
                b'"' => break,
                _ => self.at += 1,
            }
        }
        self.at += 1;
        serde_json::from_str(self.text.get(start..self.at)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(String, &str)> {
        numbers_in(text, "settings")
            .into_iter()
            .map(|(path, token)| (path.to_string(), token))
            .collect()
    }

    #[test]
    fn numbers_under_the_member_come_with_their_paths_and_text() {
        let text = r#" { "n": 7, "settings" : {"t": 1e200, "a": [0, {"b": -1.50E+3}],
            "s": "9 \" 9", "x\ty": 12345678901234567890123456789012345678901, "z": [true, null, []] },
            "after": 1 } "#;
        assert_eq!(
            found(text),
            vec![
                ("settings.t".to_owned(), "1e200"),
                ("settings.a[0]".to_owned(), "0"),
                ("settings.a[1].b".to_owned(), "-1.50E+3"),
                (
                    "settings[\"x\\ty\"]".to_owned(),
                    "12345678901234567890123456789012345678901"
                ),
            ]
        );
    }

    #[test]
    fn other_members_and_empty_containers_have_none() {
        assert!(found(r#"{"provider": 1, "settings": {}}"#).is_empty());
        assert!(found(r#"{"settings": 5}"#) == vec![("settings".to_owned(), "5")]);
        assert!(found("{}").is_empty());
    }

    #[test]
    fn text_that_is_not_json_never_panics() {
        for text in [
            "",
            "{",
            "{\"settings\"",
            "{\"settings\": [1,",
            "{\"settings\": \"\\",
            "{\"a\u{e9}\\\u{e9}\": 1}",
            "[1]",
            "{\"settings\": {\"a\": 1 \"b\": 2}}",
            &"[".repeat(10_000),
        ] {
            let _ = numbers_in(text, "settings");
        }
        let deep = format!("{{\"settings\": {}1{}}}", "[".repeat(300), "]".repeat(300));
        assert!(numbers_in(&deep, "settings").is_empty());
    }
}
