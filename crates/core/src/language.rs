//! Languages writ recognises, and how it recognises them.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// The language of a file, which decides how it is chunked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Rust, chunked with tree-sitter.
    Rust,
    /// Python, chunked with tree-sitter.
    Python,
    /// JavaScript (and JSX), chunked with tree-sitter.
    JavaScript,
    /// TypeScript, chunked with tree-sitter.
    TypeScript,
    /// TSX, chunked with tree-sitter.
    Tsx,
    /// Go, chunked with tree-sitter.
    Go,
    /// Markdown, chunked by headings.
    Markdown,
    /// Any other text, chunked by line windows.
    Text,
}

/// Extensions of plain-text files writ indexes by line windows.
const TEXT_EXTENSIONS: &[&str] = &[
    "txt", "rst", "adoc", "toml", "yaml", "yml", "json", "cfg", "ini", "conf", "sh", "bash", "zsh",
    "fish", "c", "h", "cc", "cpp", "cxx", "hpp", "hh", "java", "kt", "kts", "scala", "rb", "php",
    "cs", "swift", "m", "mm", "lua", "pl", "pm", "r", "sql", "html", "htm", "css", "scss", "less",
    "vue", "svelte", "xml", "proto", "graphql", "tf", "nix", "el", "clj", "ex", "exs", "erl", "hs",
    "ml", "mli", "zig", "dart", "jl", "cmake", "gradle", "bat", "ps1", "pyi", "pyx", "tex", "org",
];

/// File names without a telling extension that are still text worth indexing.
const TEXT_NAMES: &[&str] = &[
    "Makefile",
    "Dockerfile",
    "Justfile",
    "Rakefile",
    "Gemfile",
    "LICENSE",
    "COPYING",
    "README",
    "CHANGELOG",
    "AUTHORS",
    "CONTRIBUTING",
    "NOTICE",
    "MANIFEST.in",
    ".gitignore",
    ".writignore",
];

impl Language {
    /// Every language, in a fixed order.
    pub const ALL: [Language; 8] = [
        Language::Rust,
        Language::Python,
        Language::JavaScript,
        Language::TypeScript,
        Language::Tsx,
        Language::Go,
        Language::Markdown,
        Language::Text,
    ];

    /// The language of `path` by its extension or name; `None` when writ does
    /// not index files of that kind.
    pub fn from_path(path: impl AsRef<Path>) -> Option<Language> {
        let path = path.as_ref();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let lang = match ext.as_deref() {
            Some("rs") => Language::Rust,
            Some("py") => Language::Python,
            Some("js" | "jsx" | "mjs" | "cjs") => Language::JavaScript,
            Some("ts" | "mts" | "cts") => Language::TypeScript,
            Some("tsx") => Language::Tsx,
            Some("go") => Language::Go,
            Some("md" | "markdown") => Language::Markdown,
            Some(e) if TEXT_EXTENSIONS.contains(&e) => Language::Text,
            _ => {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let stem = name.split('.').next().unwrap_or("");
                if TEXT_NAMES.contains(&name) || TEXT_NAMES.contains(&stem) {
                    Language::Text
                } else {
                    return None;
                }
            }
        };
        Some(lang)
    }

    /// The lowercase name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::JavaScript => "javascript",
            Language::TypeScript => "typescript",
            Language::Tsx => "tsx",
            Language::Go => "go",
            Language::Markdown => "markdown",
            Language::Text => "text",
        }
    }

    /// Parses a name as printed by [`Language::name`] (also `js`, `ts`, `md`, `py`, `rs`).
    pub fn parse(name: &str) -> Option<Language> {
        let lower = name.to_ascii_lowercase();
        let lang = match lower.as_str() {
            "rs" => Language::Rust,
            "py" => Language::Python,
            "js" => Language::JavaScript,
            "ts" => Language::TypeScript,
            "md" => Language::Markdown,
            "txt" => Language::Text,
            other => return Language::ALL.into_iter().find(|l| l.name() == other),
        };
        Some(lang)
    }

    /// The separator between a container and a member in qualified symbols:
    /// `Type::method` in Rust, `Class.method` elsewhere.
    pub fn scope_separator(self) -> &'static str {
        match self {
            Language::Rust => "::",
            _ => ".",
        }
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for lang in Language::ALL {
            assert_eq!(Language::parse(lang.name()), Some(lang));
        }
    }

    #[test]
    fn detects_by_extension_and_name() {
        assert_eq!(Language::from_path("a/b.py"), Some(Language::Python));
        assert_eq!(Language::from_path("x.TSX"), Some(Language::Tsx));
        assert_eq!(Language::from_path("Makefile"), Some(Language::Text));
        assert_eq!(Language::from_path("img.png"), None);
    }
}
