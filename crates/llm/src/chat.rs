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

/// The prompt formats writ knows, one per model family. Each renders as
/// llama.cpp's built-in template of the same family does
/// (`llama_chat_apply_template`; tests/chat_templates.rs holds its
/// renderings), so the recorded prompt can be rebuilt from the name alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatTemplate {
    /// `<|im_start|>role\n…<|im_end|>` (SmolLM2, Qwen2.5).
    ChatMl,
    /// ChatML with Qwen3's empty thinking block opened for the answer
    /// (its template's `enable_thinking=false`): the model answers at once.
    Qwen3,
    /// `<|start_header_id|>role<|end_header_id|>\n\n…<|eot_id|>` (Llama 3).
    Llama3,
    /// `<start_of_turn>user\n…<end_of_turn>` with the system text put
    /// before the first user turn (Gemma has no system role).
    Gemma,
    /// `<|system|>\n…<|end|>\n<|user|>\n…` (Phi-3, Phi-3.5).
    Phi3,
    /// No text format: the messages as a JSON list of `{role, content}`,
    /// sent as they are to a remote chat endpoint, which applies its own.
    Messages,
}

impl ChatTemplate {
    /// Every format, in a fixed order.
    pub const ALL: [ChatTemplate; 6] = [
        ChatTemplate::ChatMl,
        ChatTemplate::Qwen3,
        ChatTemplate::Llama3,
        ChatTemplate::Gemma,
        ChatTemplate::Phi3,
        ChatTemplate::Messages,
    ];

    /// Picks the format from the GGUF's `tokenizer.chat_template` and
    /// `general.architecture`; `None` when neither tells.
    pub fn detect(template: &str, architecture: &str) -> Option<ChatTemplate> {
        if template.contains("<|im_start|>") {
            // Qwen3's template (and only it among ChatML ones) knows thinking.
            if architecture == "qwen3" || template.contains("enable_thinking") {
                Some(ChatTemplate::Qwen3)
            } else {
                Some(ChatTemplate::ChatMl)
            }
        } else if template.contains("<|start_header_id|>") {
            Some(ChatTemplate::Llama3)
        } else if template.contains("<start_of_turn>") {
            Some(ChatTemplate::Gemma)
        } else if template.contains("<|assistant|>") && template.contains("<|end|>") {
            Some(ChatTemplate::Phi3)
        } else if template.is_empty() {
            // A file without a template (a base model): its family's format.
            match architecture {
                "qwen2" => Some(ChatTemplate::ChatMl),
                "qwen3" => Some(ChatTemplate::Qwen3),
                "gemma3" | "gemma2" | "gemma" => Some(ChatTemplate::Gemma),
                "phi3" => Some(ChatTemplate::Phi3),
                _ => None,
            }
        } else {
            None
        }
    }

    /// A stable name, recorded with every prompt (`chatml`, `llama3`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ChatTemplate::ChatMl => "chatml",
            ChatTemplate::Qwen3 => "qwen3",
            ChatTemplate::Llama3 => "llama3",
            ChatTemplate::Gemma => "gemma",
            ChatTemplate::Phi3 => "phi3",
            ChatTemplate::Messages => "messages",
        }
    }

    /// The format with that [`name`](ChatTemplate::name), to re-render a
    /// recorded prompt without loading the model.
    pub fn from_name(name: &str) -> Option<ChatTemplate> {
        ChatTemplate::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The tokens that end an assistant turn.
    pub fn stop_tokens(self) -> &'static [&'static str] {
        match self {
            ChatTemplate::ChatMl | ChatTemplate::Qwen3 => &["<|im_end|>", "<|endoftext|>"],
            ChatTemplate::Llama3 => &["<|eot_id|>", "<|end_of_text|>"],
            ChatTemplate::Gemma => &["<end_of_turn>", "<eos>"],
            ChatTemplate::Phi3 => &["<|end|>", "<|endoftext|>"],
            ChatTemplate::Messages => &[],
        }
    }

    /// Renders `messages` and opens the assistant's turn.
    pub fn render(self, messages: &[Message]) -> String {
        let mut out = String::new();
        match self {
            ChatTemplate::ChatMl | ChatTemplate::Qwen3 => {
                for m in messages {
                    out.push_str(&format!(
                        "<|im_start|>{}\n{}<|im_end|>\n",
                        m.role, m.content
                    ));
                }
                out.push_str("<|im_start|>assistant\n");
                if self == ChatTemplate::Qwen3 {
                    out.push_str("<think>\n\n</think>\n\n");
                }
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
            ChatTemplate::Gemma => {
                let mut system = String::new();
                for m in messages {
                    if m.role == "system" {
                        system.push_str(m.content.trim());
                        system.push_str("\n\n");
                        continue;
                    }
                    let role = if m.role == "assistant" {
                        "model"
                    } else {
                        &m.role
                    };
                    out.push_str(&format!(
                        "<start_of_turn>{role}\n{}{}<end_of_turn>\n",
                        std::mem::take(&mut system),
                        m.content.trim()
                    ));
                }
                out.push_str("<start_of_turn>model\n");
            }
            ChatTemplate::Phi3 => {
                for m in messages {
                    out.push_str(&format!("<|{}|>\n{}<|end|>\n", m.role, m.content));
                }
                out.push_str("<|assistant|>\n");
            }
            ChatTemplate::Messages => {
                let list: Vec<serde_json::Value> = messages
                    .iter()
                    .map(|m| serde_json::json!({ "role": m.role, "content": m.content }))
                    .collect();
                out = serde_json::Value::Array(list).to_string();
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
            ChatTemplate::detect("{{'<|im_start|>' + role}}", "llama"),
            Some(ChatTemplate::ChatMl)
        );
    }

    /// The renderings of llama.cpp's built-in templates of each family
    /// (`llama_chat_apply_template(name, chat, add_ass=true)` through
    /// llama-cpp-python 0.3.36; `scripts/llm_reference.py` reruns it).
    /// llama.cpp leaves Llama 3's `<|begin_of_text|>` to the tokenizer;
    /// writ writes it (and does not add a second one).
    #[test]
    fn each_family_renders_as_llama_cpp_does() {
        let chat = [
            Message::new("system", "You are writ.\nBe brief."),
            Message::new(
                "user",
                "Context:\n[3] a.py lines 1-2\n```python\ndef f():\n    pass\n```\n\nQuestion: what does f do?",
            ),
        ];
        let user = "Context:\n[3] a.py lines 1-2\n```python\ndef f():\n    pass\n```\n\nQuestion: what does f do?";
        let llama_cpp = [
            (ChatTemplate::ChatMl, format!("<|im_start|>system\nYou are writ.\nBe brief.<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")),
            (ChatTemplate::Llama3, format!("<|start_header_id|>system<|end_header_id|>\n\nYou are writ.\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{user}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")),
            (ChatTemplate::Gemma, format!("<start_of_turn>user\nYou are writ.\nBe brief.\n\n{user}<end_of_turn>\n<start_of_turn>model\n")),
            (ChatTemplate::Phi3, format!("<|system|>\nYou are writ.\nBe brief.<|end|>\n<|user|>\n{user}<|end|>\n<|assistant|>\n")),
        ];
        for (t, want) in llama_cpp {
            let got = t.render(&chat);
            let got = got.strip_prefix("<|begin_of_text|>").unwrap_or(&got);
            assert_eq!(got, want, "{}", t.name());
        }
        // Qwen3 is ChatML with thinking switched off, as its own template
        // renders `enable_thinking=false`.
        let q = ChatTemplate::Qwen3.render(&chat);
        assert!(
            q.ends_with("<|im_start|>assistant\n<think>\n\n</think>\n\n"),
            "{q}"
        );
        // Every name round-trips; a remote conversation is plain JSON.
        for t in ChatTemplate::ALL {
            assert_eq!(ChatTemplate::from_name(t.name()), Some(t));
        }
        let m: serde_json::Value =
            serde_json::from_str(&ChatTemplate::Messages.render(&chat)).unwrap_or_default();
        assert_eq!(m[1]["content"], user);
    }

    #[test]
    fn families_are_detected_from_template_or_architecture() {
        let d = ChatTemplate::detect;
        assert_eq!(d("{{'<|im_start|>'}}", "qwen2"), Some(ChatTemplate::ChatMl));
        assert_eq!(
            d("{{'<|im_start|>'}}{% if enable_thinking %}", "qwen3"),
            Some(ChatTemplate::Qwen3)
        );
        assert_eq!(d("<start_of_turn>", "gemma3"), Some(ChatTemplate::Gemma));
        assert_eq!(
            d("<|user|>{{m}}<|end|><|assistant|>", "phi3"),
            Some(ChatTemplate::Phi3)
        );
        assert_eq!(d("", "gemma3"), Some(ChatTemplate::Gemma));
        assert_eq!(d("", "llama"), None);
        assert_eq!(d("[INST]", "llama"), None);
    }
}
