//! The tiny JSON subset ActiveMQ writes into its member znodes (Jackson's rendering of
//! `LevelDBNodeState`): one flat object of strings, numbers and nulls.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Number(i64),
    Text(String),
}

/// Renders `(key, value)` pairs in the given order, as Jackson does for a bean.
pub fn render(fields: &[(&str, Value)]) -> String {
    let mut out = String::from("{");
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(key);
        out.push_str("\":");
        match value {
            Value::Null => out.push_str("null"),
            Value::Number(n) => out.push_str(&n.to_string()),
            Value::Text(text) => {
                out.push('"');
                for c in text.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
        }
    }
    out.push('}');
    out
}

/// Parses a flat object. Returns `None` for anything else (a foreign or corrupt znode).
pub fn parse(text: &str) -> Option<BTreeMap<String, Value>> {
    let mut chars = text.trim().chars().peekable();
    let mut fields = BTreeMap::new();
    if chars.next()? != '{' {
        return None;
    }
    loop {
        skip_ws(&mut chars);
        match chars.peek()? {
            '}' => {
                chars.next();
                break;
            }
            ',' => {
                chars.next();
                continue;
            }
            _ => {}
        }
        let key = parse_string(&mut chars)?;
        skip_ws(&mut chars);
        if chars.next()? != ':' {
            return None;
        }
        skip_ws(&mut chars);
        let value = match chars.peek()? {
            '"' => Value::Text(parse_string(&mut chars)?),
            'n' => {
                for expected in "null".chars() {
                    if chars.next()? != expected {
                        return None;
                    }
                }
                Value::Null
            }
            _ => {
                let mut digits = String::new();
                while let Some(c) = chars.peek() {
                    if c.is_ascii_digit() || *c == '-' {
                        digits.push(*c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                Value::Number(digits.parse().ok()?)
            }
        };
        fields.insert(key, value);
    }
    Some(fields)
}

fn skip_ws(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while chars.peek().is_some_and(|c| c.is_whitespace()) {
        chars.next();
    }
}

fn parse_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
    if chars.next()? != '"' {
        return None;
    }
    // Room for a member znode's strings (a broker name, a `tcp://host:port`, an eid) at once.
    let mut out = String::with_capacity(32);
    loop {
        match chars.next()? {
            '"' => return Some(out),
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_seed_node_state() {
        let seed = r#"{"id":"activemq-cluster","container":null,"address":"tcp://192.168.0.231:62621","position":-1,"weight":1,"elected":"0000000000"}"#;
        let fields = parse(seed).expect("parses");
        assert_eq!(fields["position"], Value::Number(-1));
        assert_eq!(fields["container"], Value::Null);
        let rendered = render(&[
            ("id", fields["id"].clone()),
            ("container", fields["container"].clone()),
            ("address", fields["address"].clone()),
            ("position", fields["position"].clone()),
            ("weight", fields["weight"].clone()),
            ("elected", fields["elected"].clone()),
        ]);
        assert_eq!(rendered, seed);
    }

    #[test]
    fn rejects_what_is_not_a_flat_object() {
        assert_eq!(parse("[1]"), None);
        assert_eq!(parse("{\"a\":nul}"), None);
    }
}
