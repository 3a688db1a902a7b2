//! The JSON Lines loop shared by every `--jsonl` command: one JSON object per input line in,
//! exactly one JSON object per input line out, in order, whatever the input holds.
//!
//! The loop owns everything that is not the command's business: splitting stdin into lines,
//! rejecting lines that are not UTF-8, blank or too long, writing each answer as one line, and
//! flushing. A command supplies a closure from the line's text to either its answer (any
//! `Serialize`) or a [`Failure`]; it parses the line with [`parse_object`].
//!
//! Flushing: output is buffered, and flushed whenever all buffered input has been answered,
//! just before the loop would block reading more. A batch piped in is answered in large
//! writes; a program that writes one line and waits for its answer always gets it.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};

use serde::{Deserialize, Serialize, Serializer};

/// The error code of a line that is not a well-formed request for the command.
pub(crate) const MALFORMED_INPUT: &str = "malformed-input";

/// Longest input line accepted, in bytes (without its line ending). Longer lines are answered
/// with `malformed-input` and never held in memory whole.
pub(crate) const MAX_LINE_LEN: usize = 8 * 1024 * 1024;

/// Size of the input and output buffers.
const BUF_LEN: usize = 64 * 1024;

/// The answer to one line that failed: a stable kebab-case code and a lowercase message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) code: &'static str,
    pub(crate) message: Cow<'static, str>,
}

impl Failure {
    /// A `malformed-input` failure.
    pub(crate) fn malformed(message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code: MALFORMED_INPUT,
            message: message.into(),
        }
    }
}

impl From<atlassian_connect_jwt::Error> for Failure {
    fn from(err: atlassian_connect_jwt::Error) -> Self {
        Self {
            code: err.code(),
            message: Cow::Owned(err.to_string()),
        }
    }
}

/// How a command writes its failure lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorStyle {
    /// `{"error":"<code>","message":"<message>"}` (`canonical --jsonl`).
    Plain,
    /// `{"ok":false,"error":"<code>","message":"<message>"}`, for commands whose success lines
    /// carry `"ok":true` (`verify --jsonl`).
    WithOk,
}

/// `{"ok"?:false,"error":"<code>","message":"<message>"}`
#[derive(Serialize)]
struct ErrorLine<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    ok: Option<bool>,
    error: &'a str,
    message: &'a str,
}

/// An I/O error that ended the loop, on the side it happened.
#[derive(Debug)]
pub(crate) enum LoopError {
    /// Reading the input failed.
    Read(io::Error),
    /// Writing the output failed (a closed pipe included).
    Write(io::Error),
}

impl LoopError {
    /// The underlying I/O error.
    pub(crate) fn io_error(&self) -> &io::Error {
        match self {
            Self::Read(e) | Self::Write(e) => e,
        }
    }
}

impl fmt::Display for LoopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read(e) => write!(f, "reading stdin: {e}"),
            Self::Write(e) => write!(f, "writing stdout: {e}"),
        }
    }
}

/// Answers every line of `input` on `output`, one line each, in order, until the end of the
/// input. Only an I/O error stops it early.
///
/// A line is everything up to `\n` (a trailing `\r` is dropped too); a last line without `\n`
/// still counts, and input ending in `\n` has no extra empty line after it. Lines that are not
/// UTF-8, blank (empty or only JSON whitespace) or longer than [`MAX_LINE_LEN`] are answered
/// with `malformed-input` without calling `handle`. Failures are written in the
/// [`ErrorStyle::Plain`] form.
pub(crate) fn run<R, W, S, F>(input: R, output: W, handle: F) -> Result<(), LoopError>
where
    R: Read,
    W: Write,
    S: Serialize,
    F: FnMut(&str) -> Result<S, Failure>,
{
    run_styled(input, output, ErrorStyle::Plain, handle)
}

/// As [`run`], writing failures in the given style.
pub(crate) fn run_styled<R, W, S, F>(
    input: R,
    output: W,
    style: ErrorStyle,
    mut handle: F,
) -> Result<(), LoopError>
where
    R: Read,
    W: Write,
    S: Serialize,
    F: FnMut(&str) -> Result<S, Failure>,
{
    let mut reader = BufReader::with_capacity(BUF_LEN, input);
    let mut out = BufWriter::with_capacity(BUF_LEN, output);
    // The start of a line that spans reads; `overlong` once it passed MAX_LINE_LEN (its bytes
    // are then dropped, only its end is looked for).
    let mut pending: Vec<u8> = Vec::new();
    let mut overlong = false;

    loop {
        if reader.buffer().is_empty() {
            // Everything read so far is answered: hand it over before blocking on input.
            out.flush().map_err(LoopError::Write)?;
        }
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(LoopError::Read(e)),
        };
        if buf.is_empty() {
            if overlong || !pending.is_empty() {
                answer(&pending, overlong, style, &mut out, &mut handle)?;
            }
            break;
        }
        let used = match buf.iter().position(|&b| b == b'\n') {
            Some(end) => {
                if pending.is_empty() && !overlong {
                    // The common case: the whole line is in the buffer, no copy.
                    answer(&buf[..end], false, style, &mut out, &mut handle)?;
                } else {
                    append(&mut pending, &mut overlong, &buf[..end]);
                    answer(&pending, overlong, style, &mut out, &mut handle)?;
                    pending.clear();
                    overlong = false;
                }
                end + 1
            }
            None => {
                append(&mut pending, &mut overlong, buf);
                buf.len()
            }
        };
        reader.consume(used);
    }
    out.flush().map_err(LoopError::Write)
}

/// Adds a piece of a line to `pending`, or drops it once the line is too long.
fn append(pending: &mut Vec<u8>, overlong: &mut bool, piece: &[u8]) {
    if *overlong {
        return;
    }
    if pending.len() + piece.len() > MAX_LINE_LEN {
        *overlong = true;
        *pending = Vec::new();
        return;
    }
    pending.extend_from_slice(piece);
}

/// Answers one line (without its `\n`) with exactly one output line.
fn answer<W, S, F>(
    line: &[u8],
    overlong: bool,
    style: ErrorStyle,
    out: &mut W,
    handle: &mut F,
) -> Result<(), LoopError>
where
    W: Write,
    S: Serialize,
    F: FnMut(&str) -> Result<S, Failure>,
{
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let reply = if overlong || line.len() > MAX_LINE_LEN {
        Err(Failure::malformed(format!(
            "input line longer than {MAX_LINE_LEN} bytes"
        )))
    } else {
        match std::str::from_utf8(line) {
            Err(_) => Err(Failure::malformed("input line is not valid utf-8")),
            Ok(text) if text.trim_matches(is_json_whitespace).is_empty() => Err(
                Failure::malformed("blank input line: expected a json object"),
            ),
            Ok(text) => handle(text),
        }
    };
    write_reply(out, style, &reply).map_err(LoopError::Write)
}

fn write_reply<W: Write, S: Serialize>(
    out: &mut W,
    style: ErrorStyle,
    reply: &Result<S, Failure>,
) -> io::Result<()> {
    match reply {
        Ok(value) => serde_json::to_writer(&mut *out, value)?,
        Err(failure) => serde_json::to_writer(
            &mut *out,
            &ErrorLine {
                ok: (style == ErrorStyle::WithOk).then_some(false),
                error: failure.code,
                message: &failure.message,
            },
        )?,
    }
    out.write_all(b"\n")
}

fn is_json_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Parses a line as one JSON object of type `T` (which should `deny_unknown_fields`).
///
/// Anything else, an array or a string included (serde would read a struct from an array),
/// is a `malformed-input` failure whose message says what was wrong and at which column.
pub(crate) fn parse_object<'a, T: Deserialize<'a>>(line: &'a str) -> Result<T, Failure> {
    let start = line.trim_start_matches(is_json_whitespace);
    if !start.starts_with('{') {
        // Say what it is instead: valid JSON of another type, or not JSON at all.
        let message = match serde_json::from_str::<serde::de::IgnoredAny>(line) {
            Err(e) => format!("not json: {}", json_message(&e)),
            Ok(_) => {
                let found = match start.bytes().next() {
                    Some(b'[') => "an array",
                    Some(b'"') => "a string",
                    Some(b't' | b'f') => "a boolean",
                    Some(b'n') => "null",
                    _ => "a number",
                };
                format!("expected a json object, found {found}")
            }
        };
        return Err(Failure::malformed(message));
    }
    serde_json::from_str(line).map_err(|e| Failure::malformed(json_message(&e)))
}

/// serde_json's message with its position given as a column: every line is parsed on its
/// own, so serde_json's "line 1" would only mislead.
fn json_message(err: &serde_json::Error) -> String {
    let full = err.to_string();
    let position = format!(" at line {} column {}", err.line(), err.column());
    match full.strip_suffix(&position) {
        Some(message) if err.column() > 0 => format!("{message} at column {}", err.column()),
        Some(message) => message.to_owned(),
        None => full,
    }
}

/// A line's malformed-input message without the text of any string it quotes: serde_json's
/// `invalid type: string "..."` would echo a secret or a token put in the wrong field
/// (`verify --jsonl`, `verify-fit --jsonl`).
pub(crate) fn redact(mut failure: Failure) -> Failure {
    const QUOTED: &str = "string \"";
    if failure.code != MALFORMED_INPUT || !failure.message.contains(QUOTED) {
        return failure;
    }
    let mut message = String::with_capacity(failure.message.len());
    let mut rest: &str = &failure.message;
    while let Some(start) = rest.find(QUOTED) {
        message.push_str(&rest[..start]);
        message.push_str("a string");
        // The quoted text is Rust-escaped: skip to the first `"` not after a `\`.
        let quoted = &rest[start + QUOTED.len()..];
        let mut escaped = false;
        let end = quoted.char_indices().find_map(|(i, c)| match c {
            _ if escaped => {
                escaped = false;
                None
            }
            '\\' => {
                escaped = true;
                None
            }
            '"' => Some(i + 1),
            _ => None,
        });
        rest = end.map_or("", |end| &quoted[end..]);
    }
    message.push_str(rest);
    failure.message = message.into();
    failure
}

/// A 64-byte lowercase hex digest serialized as a JSON string without allocating.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hex64(pub(crate) [u8; 64]);

impl Serialize for Hex64 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = std::str::from_utf8(&self.0).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(text)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Echo<'a> {
        #[serde(borrow)]
        say: Cow<'a, str>,
    }

    #[derive(Serialize)]
    struct Said {
        said: String,
    }

    fn echo(line: &str) -> Result<Said, Failure> {
        let input: Echo<'_> = parse_object(line)?;
        if input.say == "fail" {
            return Err(Failure {
                code: "failed",
                message: "asked to".into(),
            });
        }
        Ok(Said {
            said: input.say.into_owned(),
        })
    }

    fn run_bytes(input: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        run(input, &mut out, echo).unwrap();
        let text = String::from_utf8(out).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    fn malformed(line: &str) -> bool {
        line.starts_with(r#"{"error":"malformed-input","message":"#)
    }

    #[test]
    fn one_line_out_per_line_in() {
        let out = run_bytes(b"{\"say\":\"a\"}\n\n{\"say\":\"fail\"}\r\n[1]\n\xff\n{\"say\":\"b\"}");
        assert_eq!(out.len(), 6);
        assert_eq!(out[0], r#"{"said":"a"}"#);
        assert_eq!(
            out[1],
            r#"{"error":"malformed-input","message":"blank input line: expected a json object"}"#
        );
        assert_eq!(out[2], r#"{"error":"failed","message":"asked to"}"#);
        assert_eq!(
            out[3],
            r#"{"error":"malformed-input","message":"expected a json object, found an array"}"#
        );
        assert_eq!(
            out[4],
            r#"{"error":"malformed-input","message":"input line is not valid utf-8"}"#
        );
        assert_eq!(out[5], r#"{"said":"b"}"#);
    }

    #[test]
    fn error_lines_with_ok() {
        let mut out = Vec::new();
        run_styled(
            &b"{\"say\":\"fail\"}\n\n{\"say\":\"a\"}\n"[..],
            &mut out,
            ErrorStyle::WithOk,
            echo,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                r#"{"ok":false,"error":"failed","message":"asked to"}"#,
                r#"{"ok":false,"error":"malformed-input","message":"blank input line: expected a json object"}"#,
                r#"{"said":"a"}"#,
            ]
        );
    }

    #[test]
    fn no_extra_line_at_the_end() {
        assert!(run_bytes(b"").is_empty());
        assert_eq!(run_bytes(b"{\"say\":\"a\"}\n").len(), 1);
        assert_eq!(run_bytes(b"\n").len(), 1);
        assert_eq!(run_bytes(b"\n\n").len(), 2);
    }

    #[test]
    fn json_messages_give_the_column() {
        let out = run_bytes(b"{\"say\":1}\n{\"sya\":\"x\"}\n{}\n{\"say\":\"x\"} x\n");
        assert_eq!(
            out[0],
            r#"{"error":"malformed-input","message":"invalid type: integer `1`, expected a string at column 8"}"#
        );
        assert!(out[1].contains("unknown field `sya`"), "{}", out[1]);
        assert!(out[2].contains("missing field `say`"), "{}", out[2]);
        assert!(
            out[3].contains("trailing characters at column"),
            "{}",
            out[3]
        );
    }

    #[test]
    fn overlong_lines_are_answered_and_skipped() {
        let mut input = vec![b'{'; MAX_LINE_LEN + 10];
        input.extend_from_slice(b"\n{\"say\":\"after\"}\n");
        input.extend(std::iter::repeat_n(b' ', MAX_LINE_LEN + 1));
        let out = run_bytes(&input);
        assert_eq!(out.len(), 3);
        assert!(malformed(&out[0]) && out[0].contains("longer than"));
        assert_eq!(out[1], r#"{"said":"after"}"#);
        assert!(malformed(&out[2]) && out[2].contains("longer than"));
    }

    #[test]
    fn quoted_strings_are_redacted_from_malformed_messages() {
        let failure = |message: &str| Failure::malformed(message.to_owned());
        assert_eq!(
            redact(failure(
                r#"invalid type: string "s3cr\"et", expected u64 at column 9"#
            ))
            .message,
            "invalid type: a string, expected u64 at column 9"
        );
        assert_eq!(
            redact(failure(r#"a string "x" and string "y" end"#)).message,
            "a a string and a string end"
        );
        // Other codes and messages without a quoted string are kept.
        let verdict = Failure {
            code: "expired",
            message: r#"string "kept""#.into(),
        };
        assert_eq!(redact(verdict.clone()), verdict);
        assert_eq!(
            redact(failure("missing field `now`")),
            failure("missing field `now`")
        );
    }

    /// Input that arrives in fixed pieces; before handing out each piece it checks that every
    /// line completed by the earlier pieces has already been answered *and flushed*.
    struct Trickle {
        pieces: Vec<Vec<u8>>,
        lines_sent: usize,
        flushed: Rc<RefCell<Vec<u8>>>,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let answered = self
                .flushed
                .borrow()
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            assert_eq!(
                answered, self.lines_sent,
                "blocked on input with answers unflushed"
            );
            if self.pieces.is_empty() {
                return Ok(0);
            }
            let piece = self.pieces.remove(0);
            assert!(piece.len() <= buf.len());
            buf[..piece.len()].copy_from_slice(&piece);
            self.lines_sent += piece.iter().filter(|&&b| b == b'\n').count();
            Ok(piece.len())
        }
    }

    struct Shared(Rc<RefCell<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn flushes_before_every_blocking_read() {
        let flushed = Rc::new(RefCell::new(Vec::new()));
        let pieces = [
            "{\"say\":",
            "\"a\"}\n{\"say\":\"b\"}\n{\"s",
            "ay\":\"c\"}\n",
            "\n",
        ];
        let input = Trickle {
            pieces: pieces.iter().map(|p| p.as_bytes().to_vec()).collect(),
            lines_sent: 0,
            flushed: Rc::clone(&flushed),
        };
        run(input, Shared(Rc::clone(&flushed)), echo).unwrap();
        let text = String::from_utf8(flushed.borrow().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[..3],
            [r#"{"said":"a"}"#, r#"{"said":"b"}"#, r#"{"said":"c"}"#]
        );
        assert!(malformed(lines[3]));
    }
}
