//! The configuration keys: each key's name in a file, the flag and the
//! environment variable that set it, and whether a repository's own file
//! may set it.

/// A configuration key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// The model cache folder.
    Models,
    /// A sentence-embedding model folder.
    EmbedModel,
    /// A GGUF language model file.
    Model,
    /// The index folder (which holds the ledger).
    Index,
    /// The rules folder.
    Rules,
    /// `writ ask -k`.
    AskK,
    /// `writ ask --max-proposals`.
    AskMaxProposals,
    /// `writ ask --max-tokens`.
    AskMaxTokens,
    /// `writ search -k`.
    SearchK,
    /// `writ serve --addr`.
    ServeAddr,
    /// An OpenAI-compatible endpoint for `writ ask`.
    LlmUrl,
    /// The model id to ask that endpoint for.
    LlmModel,
    /// An OpenAI-compatible embedding server instead of the local model.
    EmbedUrl,
    /// The model id to ask that embedding server for.
    EmbedUrlModel,
}

impl Key {
    /// Every key, in the order `writ config` shows them.
    pub const ALL: [Key; 14] = [
        Key::Models,
        Key::EmbedModel,
        Key::EmbedUrl,
        Key::EmbedUrlModel,
        Key::Model,
        Key::LlmUrl,
        Key::LlmModel,
        Key::Index,
        Key::Rules,
        Key::AskK,
        Key::AskMaxProposals,
        Key::AskMaxTokens,
        Key::SearchK,
        Key::ServeAddr,
    ];

    /// The key as written in a file (`ask.k`).
    pub fn name(self) -> &'static str {
        match self {
            Key::Models => "models",
            Key::EmbedModel => "embed_model",
            Key::Model => "model",
            Key::Index => "index",
            Key::Rules => "rules",
            Key::AskK => "ask.k",
            Key::AskMaxProposals => "ask.max_proposals",
            Key::AskMaxTokens => "ask.max_tokens",
            Key::SearchK => "search.k",
            Key::ServeAddr => "serve.addr",
            Key::LlmUrl => "llm.url",
            Key::LlmModel => "llm.model",
            Key::EmbedUrl => "embed_server.url",
            Key::EmbedUrlModel => "embed_server.model",
        }
    }

    /// The flag that sets it.
    pub(crate) fn flag(self) -> &'static str {
        match self {
            Key::Models => "--models",
            Key::EmbedModel => "--embed-model",
            Key::Model => "--model",
            Key::Index => "--index",
            Key::Rules => "--rules",
            Key::AskK => "writ ask -k",
            Key::AskMaxProposals => "--max-proposals",
            Key::AskMaxTokens => "--max-tokens",
            Key::SearchK => "writ search -k",
            Key::ServeAddr => "--addr",
            Key::LlmUrl => "--llm-url",
            Key::LlmModel => "--llm-model",
            Key::EmbedUrl => "--embed-url",
            Key::EmbedUrlModel => "--embed-url-model",
        }
    }

    /// The environment variable that sets it, if one does.
    pub(crate) fn env(self) -> Option<&'static str> {
        match self {
            Key::Models => Some("WRIT_MODELS"),
            Key::Model => Some("WRIT_LLM"),
            Key::LlmUrl => Some("WRIT_LLM_URL"),
            Key::LlmModel => Some("WRIT_LLM_MODEL"),
            Key::EmbedUrl => Some("WRIT_EMBED_URL"),
            Key::EmbedUrlModel => Some("WRIT_EMBED_URL_MODEL"),
            _ => None,
        }
    }

    /// Whether a repository's own file may set it: only what tunes the
    /// work, never what says which files writ trusts or where it records.
    pub fn repo_may_set(self) -> bool {
        matches!(
            self,
            Key::AskK | Key::AskMaxProposals | Key::AskMaxTokens | Key::SearchK
        )
    }

    /// Why a repository's file may not set it.
    pub(crate) fn user_only(self) -> &'static str {
        match self {
            Key::Models | Key::EmbedModel | Key::Model => {
                "a repository must not choose the model files writ loads (it could ship its own weights)"
            }
            Key::Index => {
                "the index folder holds the ledger: a repository must not choose where writ keeps its record"
            }
            Key::Rules => {
                "a repository's rules are its reviewed `rules/` folder: its configuration must not point the gate at others"
            }
            Key::ServeAddr => "a repository must not choose where `writ serve` listens",
            Key::LlmUrl | Key::LlmModel => {
                "a repository must not choose where writ sends its prompts (they carry your code) or which model answers"
            }
            Key::EmbedUrl | Key::EmbedUrlModel => {
                "a repository must not choose where writ sends its code to be embedded, or which model embeds it"
            }
            _ => "",
        }
    }
}

/// What the default is when it is not a value.
pub fn default_note(key: Key) -> &'static str {
    match key {
        Key::EmbedModel => "the pinned all-MiniLM-L6-v2 from the model cache",
        Key::Model => "the pinned SmolLM2 from the model cache",
        Key::Rules => "<repo>/rules if it is a folder, else writ's built-in rules",
        Key::LlmUrl => "none: the local model answers",
        Key::LlmModel => "the first model the endpoint lists",
        Key::EmbedUrl => "none: the local embedding model embeds",
        Key::EmbedUrlModel => "the first model the embedding server lists",
        _ => "",
    }
}
