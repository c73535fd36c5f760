//! Chat templates per model family, chosen from the GGUF metadata.

/// A chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl Message {
    /// A message with `role` and `content`.
    pub fn new(role: &str, content: &str) -> Message {
        Message {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// The prompt formats writ knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatTemplate {
    /// `<|im_start|>role\n…<|im_end|>` (SmolLM2, Qwen).
    ChatMl,
    /// `<|start_header_id|>role<|end_header_id|>\n\n…<|eot_id|>` (Llama 3).
    Llama3,
}

impl ChatTemplate {
    /// Picks the format from the GGUF's `tokenizer.chat_template`; `None`
    /// when it is neither.
    pub fn detect(template: &str) -> Option<ChatTemplate> {
        if template.contains("<|im_start|>") {
            Some(ChatTemplate::ChatMl)
        } else if template.contains("<|start_header_id|>") {
            Some(ChatTemplate::Llama3)
        } else {
            None
        }
    }

    /// A stable name, recorded with every prompt (`chatml`, `llama3`).
    pub fn name(self) -> &'static str {
        match self {
            ChatTemplate::ChatMl => "chatml",
            ChatTemplate::Llama3 => "llama3",
        }
    }

    /// The format with that [`name`](ChatTemplate::name), to re-render a
    /// recorded prompt without loading the model.
    pub fn from_name(name: &str) -> Option<ChatTemplate> {
        [ChatTemplate::ChatMl, ChatTemplate::Llama3]
            .into_iter()
            .find(|t| t.name() == name)
    }

    /// The tokens that end an assistant turn.
    pub fn stop_tokens(self) -> &'static [&'static str] {
        match self {
            ChatTemplate::ChatMl => &["<|im_end|>", "<|endoftext|>"],
            ChatTemplate::Llama3 => &["<|eot_id|>", "<|end_of_text|>"],
        }
    }

    /// Renders `messages` and opens the assistant's turn.
    pub fn render(self, messages: &[Message]) -> String {
        let mut out = String::new();
        match self {
            ChatTemplate::ChatMl => {
                for m in messages {
                    out.push_str(&format!(
                        "<|im_start|>{}\n{}<|im_end|>\n",
                        m.role, m.content
                    ));
                }
                out.push_str("<|im_start|>assistant\n");
            }
            ChatTemplate::Llama3 => {
                out.push_str("<|begin_of_text|>");
                for m in messages {
                    out.push_str(&format!(
                        "<|start_header_id|>{}<|end_header_id|>\n\n{}<|eot_id|>",
                        m.role, m.content
                    ));
                }
                out.push_str("<|start_header_id|>assistant<|end_header_id|>\n\n");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_renders_and_opens_the_assistant_turn() {
        let t =
            ChatTemplate::ChatMl.render(&[Message::new("system", "s"), Message::new("user", "u")]);
        assert_eq!(t, "<|im_start|>system\ns<|im_end|>\n<|im_start|>user\nu<|im_end|>\n<|im_start|>assistant\n");
        assert_eq!(
            ChatTemplate::detect("{{'<|im_start|>' + role}}"),
            Some(ChatTemplate::ChatMl)
        );
    }
}
