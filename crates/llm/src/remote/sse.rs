//! The answer as it arrives: server-sent events of chat completion chunks
//! (or, from a server that does not stream, one whole completion), read
//! on a thread of their own so that a silent server cannot keep Ctrl-C
//! waiting.

use super::{quote, server_message};
use crate::error::LlmError;
use crate::types::StopReason;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc;

/// Most bytes of one line of the stream.
pub(crate) const MAX_LINE_BYTES: u64 = 1 << 20;

/// What the reader thread sends: a line (without its ending), the end of
/// the stream (`None`), or why reading failed.
pub(crate) type Line = Result<Option<String>, String>;

/// Reads `body` line by line on a thread; the thread ends at the end of
/// the stream, on an error, or when the receiver is dropped (after its
/// read in progress returns: the agent's timeouts bound that).
pub(crate) fn lines(body: impl Read + Send + 'static) -> mpsc::Receiver<Line> {
    let (tx, rx) = mpsc::sync_channel::<Line>(64);
    std::thread::spawn(move || {
        let mut reader = BufReader::new(body);
        loop {
            let mut buf = Vec::new();
            let sent = match (&mut reader)
                .take(MAX_LINE_BYTES)
                .read_until(b'\n', &mut buf)
            {
                Ok(0) => {
                    let _ = tx.send(Ok(None));
                    return;
                }
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    tx.send(Ok(Some(line.trim_end_matches(['\r', '\n']).to_string())))
                }
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                    return;
                }
            };
            if sent.is_err() {
                return;
            }
        }
    });
    rx
}

/// The state of one answer: its text so far and what the server said
/// about it.
#[derive(Debug, Default)]
pub(crate) struct Stream {
    pub(crate) text: String,
    pub(crate) pieces: usize,
    pub(crate) id: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) fingerprint: Option<String>,
    pub(crate) stop: Option<StopReason>,
    pub(crate) prompt_tokens: Option<usize>,
    pub(crate) completion_tokens: Option<usize>,
    /// `[DONE]` was read.
    pub(crate) done: bool,
    /// The `data:` lines of the event being read (joined by newlines when
    /// the blank line ends it, as the SSE format says).
    pending: Option<String>,
}

impl Stream {
    /// Takes one line of the stream; returns the answer text an event it
    /// completed held.
    pub(crate) fn feed(&mut self, line: &str) -> Result<Option<String>, LlmError> {
        if line.is_empty() {
            return self.dispatch();
        }
        if let Some(data) = line.strip_prefix("data:") {
            let data = data.strip_prefix(' ').unwrap_or(data);
            match &mut self.pending {
                Some(p) => {
                    p.push('\n');
                    p.push_str(data);
                }
                None => self.pending = Some(data.to_string()),
            }
        }
        // Comments, `event:`, `id:` and `retry:` lines carry no answer.
        Ok(None)
    }

    /// Ends the event being read (at a blank line, or at the end of the
    /// stream).
    pub(crate) fn dispatch(&mut self) -> Result<Option<String>, LlmError> {
        let Some(data) = self.pending.take() else {
            return Ok(None);
        };
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(None);
        }
        let v: Value = serde_json::from_str(data).map_err(|e| {
            LlmError::Run(format!("the server streamed a chunk that is not JSON: {e}"))
        })?;
        self.chunk(&v, "delta")
    }

    /// A whole (non-streamed) completion, from a server that ignores
    /// `stream: true`.
    pub(crate) fn whole(&mut self, v: &Value) -> Result<Option<String>, LlmError> {
        let piece = self.chunk(v, "message")?;
        self.done = true;
        if self.stop.is_none() {
            self.stop = Some(StopReason::EndOfTurn);
        }
        Ok(piece)
    }

    /// One completion object; `part` names where its text is (`delta` in
    /// a chunk, `message` in a whole completion).
    fn chunk(&mut self, v: &Value, part: &str) -> Result<Option<String>, LlmError> {
        if let Some(err) = v.get("error") {
            return Err(LlmError::Run(format!(
                "the server reported an error: {}",
                server_message(&err.to_string())
            )));
        }
        let text = |k: &str| v[k].as_str().map(quote);
        self.id = self.id.take().or_else(|| text("id"));
        self.model = self.model.take().or_else(|| text("model"));
        self.fingerprint = self
            .fingerprint
            .take()
            .or_else(|| text("system_fingerprint"));
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            self.prompt_tokens = u["prompt_tokens"].as_u64().map(|n| n as usize);
            self.completion_tokens = u["completion_tokens"].as_u64().map(|n| n as usize);
        }
        let choice = &v["choices"][0];
        match choice["finish_reason"].as_str() {
            Some("length") => self.stop = Some(StopReason::MaxTokens),
            Some(_) => self.stop = Some(StopReason::EndOfTurn),
            None => {}
        }
        let piece = choice[part]["content"]
            .as_str()
            .or_else(|| choice["text"].as_str())
            .unwrap_or("");
        if piece.is_empty() {
            return Ok(None);
        }
        self.pieces += 1;
        self.text.push_str(piece);
        Ok(Some(piece.to_string()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]
    use super::*;

    fn read(s: &mut Stream, lines: &[&str]) -> Vec<String> {
        let mut seen = Vec::new();
        for l in lines {
            if let Some(p) = s.feed(l).unwrap() {
                seen.push(p);
            }
        }
        if let Some(p) = s.dispatch().unwrap() {
            seen.push(p);
        }
        seen
    }

    #[test]
    fn a_stream_is_read_event_by_event() {
        let mut s = Stream::default();
        let seen = read(
            &mut s,
            &[
                ": keep-alive",
                "",
                r#"data: {"id":"c1","model":"m","system_fingerprint":"fp","choices":[{"delta":{"role":"assistant"}}]}"#,
                "",
                r#"data: {"id":"c1","choices":[{"delta":{"content":"{\"pro"}}]}"#,
                "",
                "event: message",
                r#"data: {"id":"c1","choices":[{"delta":{"content":"posals\":[]}"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":5}}"#,
                "",
                "data: [DONE]",
                "",
            ],
        );
        assert_eq!(seen, ["{\"pro", "posals\":[]}"]);
        assert_eq!(s.text, "{\"proposals\":[]}");
        assert!(s.done);
        assert_eq!(s.stop, Some(StopReason::EndOfTurn));
        assert_eq!(
            (s.id.as_deref(), s.model.as_deref()),
            (Some("c1"), Some("m"))
        );
        assert_eq!(s.fingerprint.as_deref(), Some("fp"));
        assert_eq!((s.prompt_tokens, s.completion_tokens), (Some(12), Some(5)));
    }

    #[test]
    fn an_event_may_span_data_lines_and_a_whole_completion_is_read_too() {
        let mut s = Stream::default();
        let seen = read(
            &mut s,
            &[
                r#"data: {"choices":[{"delta":"#,
                r#"data: {"content":"x"},"finish_reason":"length"}]}"#,
                "",
            ],
        );
        assert_eq!(seen, ["x"]);
        assert_eq!(s.stop, Some(StopReason::MaxTokens));
        let mut w = Stream::default();
        let v: Value = serde_json::from_str(
            r#"{"id":"c2","choices":[{"message":{"content":"{}"},"finish_reason":"stop"}]}"#,
        )
        .unwrap();
        assert_eq!(w.whole(&v).unwrap().as_deref(), Some("{}"));
        assert!(w.done);
    }

    #[test]
    fn malformed_chunks_and_errors_fail_the_generation() {
        let mut s = Stream::default();
        s.feed("data: {oops").unwrap();
        assert!(s.dispatch().is_err());
        let mut e = Stream::default();
        e.feed(r#"data: {"error":{"message":"boom"}}"#).unwrap();
        assert!(e.dispatch().unwrap_err().to_string().contains("boom"));
    }
}
