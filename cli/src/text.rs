//! Showing text that came from a token or a request: control characters escaped, JSON
//! re-indented as sent.

/// `text` with control characters (a decoded `\u001b` in a claim, say) written as `\u{1b}`, so
/// a token cannot drive the terminal.
pub(crate) fn safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Re-indents JSON text by two spaces per level, keeping members in the order sent and every
/// number and string exactly as written (unlike a round trip through `serde_json::Value`).
///
/// Meant for text already checked to be JSON; anything else comes out re-spaced, not refused.
pub(crate) fn pretty_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len() * 2);
    let mut depth = 0usize;
    let mut chars = json.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", depth));
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push('"');
                let mut escaped = false;
                for c in chars.by_ref() {
                    if c.is_control() {
                        out.extend(c.escape_unicode());
                    } else {
                        out.push(c);
                    }
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
            }
            '{' | '[' => {
                while chars.next_if(|c| is_json_whitespace(*c)).is_some() {}
                let close = if c == '{' { '}' } else { ']' };
                out.push(c);
                if chars.next_if_eq(&close).is_some() {
                    out.push(close);
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if is_json_whitespace(c) => {}
            c if c.is_control() => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

fn is_json_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_keeps_order_and_text() {
        let json = r#"{"z":1.50,"a":[1, 2,{}],"s":"x, {y}: \"q\" \\","e":[],"o":{"k":null}}"#;
        assert_eq!(
            pretty_json(json),
            "{\n  \"z\": 1.50,\n  \"a\": [\n    1,\n    2,\n    {}\n  ],\n  \
             \"s\": \"x, {y}: \\\"q\\\" \\\\\",\n  \"e\": [],\n  \"o\": {\n    \"k\": null\n  }\n}"
        );
        assert_eq!(pretty_json("{ }"), "{}");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(safe("a\u{1b}[31mb\n"), "a\\u{1b}[31mb\\u{a}");
        assert_eq!(
            pretty_json("{\"a\":\"\u{1b}\"}"),
            "{\n  \"a\": \"\\u{1b}\"\n}"
        );
    }
}
