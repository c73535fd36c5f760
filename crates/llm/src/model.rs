//! Loading a GGUF model and generating from it.

use crate::blocks::Stepper;
use crate::chat::{ChatTemplate, Message};
use crate::error::LlmError;
use crate::guide::{Guide, GuideFactory};
use crate::types::{GenerateOptions, Generation, LlmInfo, StopReason};
use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use candle_transformers::generation::LogitsProcessor;
use candle_transformers::models::{
    quantized_llama, quantized_phi3, quantized_qwen2, quantized_qwen3,
};
use std::path::Path;
use std::time::Instant;
use tokenizers::Tokenizer;

/// The largest context window writ plans prompts for, in tokens.
pub const MAX_CONTEXT: usize = 32_768;

/// The architectures writ runs (`general.architecture`), on candle's
/// quantized models.
pub const ARCHITECTURES: &[&str] = &["llama", "qwen2", "qwen3", "gemma3", "phi3"];

enum Weights {
    /// writ's own forward for dense llama and qwen2 files.
    Dense(crate::llama::Llama),
    Llama(quantized_llama::ModelWeights),
    Qwen2(quantized_qwen2::ModelWeights),
    Qwen3(quantized_qwen3::ModelWeights),
    Gemma3(crate::gemma3::Gemma3),
    Phi3(quantized_phi3::ModelWeights),
}

/// Prompt tokens per forward call in writ's own forwards.
const PREFILL_CHUNK: usize = 512;

impl Weights {
    /// How many prompt tokens one forward call may take: writ's own
    /// forwards continue their cache chunk by chunk; candle's build a mask
    /// for one call only, so they take the prompt whole.
    fn prefill_chunk(&self) -> usize {
        match self {
            Weights::Dense(_) | Weights::Gemma3(_) => PREFILL_CHUNK,
            _ => usize::MAX,
        }
    }

    fn forward(&mut self, x: &Tensor, pos: usize) -> candle_core::Result<Tensor> {
        match self {
            Weights::Dense(m) => m.forward(x, pos),
            Weights::Llama(m) => m.forward(x, pos),
            Weights::Qwen2(m) => m.forward(x, pos),
            Weights::Qwen3(m) => m.forward(x, pos),
            Weights::Gemma3(m) => m.forward(x, pos),
            Weights::Phi3(m) => m.forward(x, pos),
        }
    }

    /// Drops the KV cache: each generation starts from an empty context.
    fn reset(&mut self) {
        match self {
            Weights::Dense(m) => m.clear_kv_cache(),
            Weights::Llama(m) => m.clear_kv_cache(),
            Weights::Qwen2(m) => m.clear_kv_cache(),
            Weights::Qwen3(m) => m.clear_kv_cache(),
            Weights::Gemma3(m) => m.clear_kv_cache(),
            // Starts its cache afresh at position 0, which is where every
            // generation starts.
            Weights::Phi3(_) => {}
        }
    }
}

/// How to load a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// Re-encode the types candle has no SIMD kernel for ([`SLOW_TYPES`]:
    /// Q4_1, Q5_0, Q5_1) as Q8_0 at load. Prompt processing is several
    /// times faster, for more weight memory; Q8_0 holds every such value
    /// almost exactly. Default: true.
    pub requantize: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { requantize: true }
    }
}

/// Quant types candle runs with scalar code only, re-encoded at load.
pub const SLOW_TYPES: [GgmlDType; 3] = [GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::Q5_1];

/// Re-encodes the [`SLOW_TYPES`] tensors of `content` as Q8_0 into an
/// in-memory GGUF.
fn requantize(
    content: &gguf_file::Content,
    file: &mut std::fs::File,
    device: &Device,
) -> candle_core::Result<(gguf_file::Content, std::io::Cursor<Vec<u8>>)> {
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut tensors = Vec::with_capacity(names.len());
    for name in names {
        let q = content.tensor(file, name, device)?;
        let q = if SLOW_TYPES.contains(&q.dtype()) {
            QTensor::quantize(&q.dequantize(device)?, GgmlDType::Q8_0)?
        } else {
            q
        };
        tensors.push((name.as_str(), q));
    }
    let metadata: Vec<(&str, &gguf_file::Value)> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, q)| (*n, q)).collect();
    let mut buf = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut buf, &metadata, &refs)?;
    buf.set_position(0);
    let content = gguf_file::Content::read(&mut buf)?;
    Ok((content, buf))
}

/// Builds the model of `architecture` from GGUF `content` read from `reader`.
fn build<R: std::io::Read + std::io::Seek>(
    architecture: &str,
    content: gguf_file::Content,
    reader: &mut R,
    positions: usize,
    device: &Device,
) -> Result<Weights, String> {
    let built =
        match architecture {
            "llama" | "qwen2" if crate::llama::Llama::runs(&content, architecture) => {
                crate::llama::Llama::from_gguf(architecture, &content, reader, positions, device)
                    .map(Weights::Dense)
            }
            "llama" => quantized_llama::ModelWeights::from_gguf(content, reader, device)
                .map(Weights::Llama),
            "qwen2" => quantized_qwen2::ModelWeights::from_gguf(content, reader, device)
                .map(Weights::Qwen2),
            "qwen3" => quantized_qwen3::ModelWeights::from_gguf(content, reader, device)
                .map(Weights::Qwen3),
            "gemma3" => crate::gemma3::Gemma3::from_gguf(&content, reader, positions, device)
                .map(Weights::Gemma3),
            "phi3" => quantized_phi3::ModelWeights::from_gguf(false, content, reader, device)
                .map(Weights::Phi3),
            other => {
                return Err(format!(
                    "architecture `{other}` is not supported ({})",
                    ARCHITECTURES.join(", ")
                ))
            }
        };
    built.map_err(|e| LlmError::candle(e).to_string())
}

/// Decode steps on a machine that may be busy. One token's step is many
/// small parallel operations; when another process holds the cores, each
/// waits for a descheduled worker and decoding collapses (measured here,
/// SmolLM2: 46 tok/s idle, 3 tok/s with both cores busy, where one thread
/// alone keeps 41). So the steps run on both pools by turns at first, then
/// on whichever is faster by a moving average, trying the other every
/// [`Pace::PROBE`] steps: the pick follows the machine's load.
struct Pace {
    solo: Option<std::sync::Arc<rayon::ThreadPool>>,
    /// Moving averages of a step's seconds: all threads, one thread.
    average: [f64; 2],
    steps: u64,
}

impl Pace {
    /// Every this many steps the slower pool is tried again.
    const PROBE: u64 = 32;

    fn new(solo: Option<std::sync::Arc<rayon::ThreadPool>>) -> Pace {
        Pace {
            solo,
            average: [f64::INFINITY; 2],
            steps: 0,
        }
    }

    fn faster(&self) -> usize {
        usize::from(self.average[1] < self.average[0])
    }

    fn step<T: Send>(&mut self, f: impl FnOnce() -> T + Send) -> T {
        let Some(pool) = self.solo.clone() else {
            return f();
        };
        let which = match self.steps {
            0 | 1 => self.steps as usize,
            n if n % Self::PROBE == 0 => 1 - self.faster(),
            _ => self.faster(),
        };
        self.steps += 1;
        let t = Instant::now();
        let out = if which == 1 { pool.install(f) } else { f() };
        let took = t.elapsed().as_secs_f64();
        let a = &mut self.average[which];
        *a = if a.is_finite() {
            0.7 * *a + 0.3 * took
        } else {
            took
        };
        out
    }
}

/// A loaded local model.
pub struct LocalLlm {
    weights: Weights,
    tokenizer: Tokenizer,
    info: LlmInfo,
    stop_ids: Vec<u32>,
    /// Put before every prompt (`tokenizer.ggml.add_bos_token`).
    bos: Option<u32>,
    /// A one-thread pool decoding moves to when the cores are busy.
    solo: Option<std::sync::Arc<rayon::ThreadPool>>,
    device: Device,
    guides: Option<GuideFactory>,
}

fn meta_u32(ct: &gguf_file::Content, key: &str) -> Option<u32> {
    ct.metadata.get(key).and_then(|v| v.to_u32().ok())
}

fn meta_str(ct: &gguf_file::Content, key: &str) -> Option<String> {
    ct.metadata
        .get(key)
        .and_then(|v| v.to_string().ok())
        .cloned()
}

impl LocalLlm {
    /// Loads a GGUF model file with the default options.
    pub fn load(path: &Path) -> Result<LocalLlm, LlmError> {
        LocalLlm::load_with(path, LoadOptions::default())
    }

    /// Loads a GGUF model file.
    pub fn load_with(path: &Path, options: LoadOptions) -> Result<LocalLlm, LlmError> {
        let io = |source| LlmError::Io {
            path: path.to_path_buf(),
            source,
        };
        let unsupported = |message: String| LlmError::Unsupported {
            path: path.to_path_buf(),
            message,
        };
        let mut file = std::fs::File::open(path).map_err(io)?;
        let content = gguf_file::Content::read(&mut file)
            .map_err(|e| unsupported(format!("not a GGUF file: {e}")))?;
        // A tokenizer.json beside the GGUF file overrides the one in it.
        let beside = path.with_file_name("tokenizer.json");
        let (tokenizer, tokenizer_source) = if beside.is_file() {
            let t = Tokenizer::from_file(&beside)
                .map_err(|e| unsupported(format!("`{}` cannot be read: {e}", beside.display())))?;
            (t, beside.display().to_string())
        } else {
            let t = crate::tokenizer::tokenizer_from_gguf(&content)
                .map_err(|e| unsupported(format!("tokenizer: {e}")))?;
            (t, "gguf".to_string())
        };
        let architecture = meta_str(&content, "general.architecture").unwrap_or_default();
        let name = meta_str(&content, "general.name").unwrap_or_default();
        let template_text = meta_str(&content, "tokenizer.chat_template").unwrap_or_default();
        let template = ChatTemplate::detect(&template_text, &architecture).ok_or_else(|| {
            unsupported(format!(
                "its chat template is none writ knows ({}); writ renders prompts per family",
                ChatTemplate::ALL.map(ChatTemplate::name).join(", ")
            ))
        })?;
        // The file's window, bounded: writ plans prompts within at most
        // MAX_CONTEXT tokens, and the number sizes tables at load.
        let context_length = (content
            .metadata
            .get(&format!("{architecture}.context_length"))
            .and_then(|v| v.to_u32().ok())
            .unwrap_or(2048) as usize)
            .clamp(16, MAX_CONTEXT);
        let eos = meta_u32(&content, "tokenizer.ggml.eos_token_id");
        // SentencePiece models start with BOS unless the file says not to
        // (llama.cpp's rule); byte-level BPE ones only when it says so.
        let spm = meta_str(&content, "tokenizer.ggml.model").as_deref() == Some("llama");
        let add_bos = content
            .metadata
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok())
            .unwrap_or(spm);
        let bos = meta_u32(&content, "tokenizer.ggml.bos_token_id").filter(|_| add_bos);
        let device = Device::Cpu;
        let slow = content
            .tensor_infos
            .values()
            .any(|t| SLOW_TYPES.contains(&t.ggml_dtype));
        let weights = if options.requantize && slow {
            let (content, mut buf) = requantize(&content, &mut file, &device)
                .map_err(|e| unsupported(format!("requantizing: {e}")))?;
            build(&architecture, content, &mut buf, context_length, &device)
        } else {
            build(&architecture, content, &mut file, context_length, &device)
        }
        .map_err(unsupported)?;
        let mut stop_ids: Vec<u32> = template
            .stop_tokens()
            .iter()
            .filter_map(|t| tokenizer.token_to_id(t))
            .collect();
        // The file's own end-of-sequence token ends a turn too.
        if let Some(eos) = eos {
            if !stop_ids.contains(&eos) {
                stop_ids.push(eos);
            }
        }
        let sha256 = writ_core::sha256_file(path).map_err(io)?;
        Ok(LocalLlm {
            weights,
            tokenizer,
            info: LlmInfo {
                path: path.to_path_buf(),
                sha256,
                architecture,
                name,
                context_length,
                template,
                tokenizer: tokenizer_source,
            },
            stop_ids,
            bos,
            solo: rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .ok()
                .map(std::sync::Arc::new),
            device,
            guides: None,
        })
    }

    /// The model's identity.
    pub fn info(&self) -> &LlmInfo {
        &self.info
    }

    /// The model's tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Token ids of `text` (special tokens in it are recognised), with
    /// the BOS token first where the model wants one and `text` does not
    /// already begin with it.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        let mut ids = self
            .tokenizer
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| LlmError::Run(e.to_string()))?;
        if let Some(bos) = self.bos {
            if ids.first() != Some(&bos) {
                ids.insert(0, bos);
            }
        }
        Ok(ids)
    }

    /// Renders a conversation in the model's chat format.
    pub fn render(&self, messages: &[Message]) -> String {
        self.info.template.render(messages)
    }

    /// Feeds one token at position `pos` (the KV cache holds the rest) and
    /// returns the next-token logits.
    fn step(&mut self, id: u32, pos: usize) -> Result<Tensor, LlmError> {
        let run = LlmError::candle;
        let input = Tensor::new(&[id], &self.device)
            .and_then(|t| t.unsqueeze(0))
            .map_err(run)?;
        self.weights
            .forward(&input, pos)
            .and_then(|l| l.squeeze(0))
            .map_err(run)
    }

    /// The model's greedy next-token prediction after each prefix of `ids`
    /// (teacher forcing, one token at a time through the KV cache): the
    /// basis for comparing two encodings of the same weights.
    pub fn predictions(&mut self, ids: &[u32]) -> Result<Vec<u32>, LlmError> {
        let run = LlmError::candle;
        self.weights.reset();
        let mut out = Vec::with_capacity(ids.len());
        for (pos, &id) in ids.iter().enumerate() {
            let logits = self.step(id, pos)?;
            out.push(
                logits
                    .argmax(0)
                    .and_then(|a| a.to_scalar::<u32>())
                    .map_err(run)?,
            );
        }
        Ok(out)
    }

    /// The next-token logits after `ids`, fed as one prompt (prefill) from
    /// an empty cache: the basis for comparing the forward pass with
    /// another implementation's on the same file.
    pub fn logits(&mut self, ids: &[u32]) -> Result<Vec<f32>, LlmError> {
        let run = LlmError::candle;
        self.weights.reset();
        let input = Tensor::new(ids, &self.device)
            .and_then(|t| t.unsqueeze(0))
            .map_err(run)?;
        self.weights
            .forward(&input, 0)
            .and_then(|l| l.squeeze(0))
            .and_then(|l| l.to_dtype(candle_core::DType::F32))
            .and_then(|l| l.to_vec1::<f32>())
            .map_err(run)
    }

    /// A guide that holds generation to the JSON Schema `schema` (see
    /// [`generate_guided`](LocalLlm::generate_guided)). The grammar
    /// compiler for this model's vocabulary is built on first use.
    pub fn json_guide(&mut self, schema: &serde_json::Value) -> Result<Guide, LlmError> {
        self.guide_factory()?.json(schema)
    }

    /// A guide that holds generation to a Lark grammar in llguidance's
    /// dialect (which embeds JSON Schemas with `%json`).
    pub fn lark_guide(&mut self, grammar: &str) -> Result<Guide, LlmError> {
        self.guide_factory()?.lark(grammar)
    }

    /// The grammar compiler for this model's vocabulary, built on first use.
    fn guide_factory(&mut self) -> Result<&GuideFactory, LlmError> {
        if self.guides.is_none() {
            let end = *self
                .stop_ids
                .first()
                .ok_or_else(|| LlmError::Run("the model has no end-of-turn token".into()))?;
            self.guides = Some(GuideFactory::new(&self.tokenizer, end)?);
        }
        self.guides
            .as_ref()
            .ok_or_else(|| LlmError::Run("no grammar compiler".into()))
    }

    /// Generates a continuation of `prompt`; `on_text` receives each new
    /// piece of text as it is decoded.
    pub fn generate(
        &mut self,
        prompt: &str,
        options: &GenerateOptions,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation, LlmError> {
        self.generate_guided(prompt, options, None, on_text)
    }

    /// Picks the next token: repeats penalised over `recent`, then masked
    /// by the guide when there is one.
    fn pick(
        &self,
        logits: Tensor,
        sampler: &mut LogitsProcessor,
        guide: Option<&mut Guide>,
        recent: &[u32],
        penalty: f32,
    ) -> Result<u32, LlmError> {
        let run = LlmError::candle;
        if guide.is_none() && (penalty == 1.0 || recent.is_empty()) {
            return sampler.sample(&logits).map_err(run);
        }
        let mut v = logits.to_vec1::<f32>().map_err(run)?;
        if penalty != 1.0 {
            let mut seen = std::collections::HashSet::new();
            for &t in recent {
                if let (true, Some(l)) = (seen.insert(t), v.get_mut(t as usize)) {
                    *l = if *l >= 0.0 {
                        *l / penalty
                    } else {
                        *l * penalty
                    };
                }
            }
        }
        if let Some(g) = guide {
            g.mask(&mut v)?;
        }
        let logits = Tensor::new(v.as_slice(), &self.device).map_err(run)?;
        sampler.sample(&logits).map_err(run)
    }

    /// Like [`generate`](LocalLlm::generate), but every token must be one
    /// `guide` allows; generation stops when its grammar is complete
    /// ([`StopReason::Complete`]).
    pub fn generate_guided(
        &mut self,
        prompt: &str,
        options: &GenerateOptions,
        mut guide: Option<&mut Guide>,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation, LlmError> {
        let run = LlmError::candle;
        self.weights.reset();
        let prompt_ids = self.encode(prompt)?;
        if prompt_ids.is_empty() {
            return Err(LlmError::Run("empty prompt".into()));
        }
        if prompt_ids.len() >= self.info.context_length {
            return Err(LlmError::Run(format!(
                "prompt of {} tokens does not fit the context window of {}",
                prompt_ids.len(),
                self.info.context_length
            )));
        }
        let mut sampler = LogitsProcessor::new(options.seed, options.temperature, None);
        let started = Instant::now();
        // The prompt in chunks (writ's own forwards continue a cache), so
        // attention over a long prompt stays bounded in memory and a
        // cancellation is heard between chunks, not after the whole of it.
        let chunk = self.weights.prefill_chunk();
        let mut logits = None;
        for (n, piece) in prompt_ids.chunks(chunk).enumerate() {
            if options.cancel.is_cancelled() {
                return Ok(Generation {
                    prompt_tokens: prompt_ids.len(),
                    tokens: Vec::new(),
                    text: String::new(),
                    stop: StopReason::Cancelled,
                    prefill_seconds: started.elapsed().as_secs_f64(),
                    decode_seconds: 0.0,
                    remote: None,
                });
            }
            let input = Tensor::new(piece, &self.device)
                .and_then(|t| t.unsqueeze(0))
                .map_err(run)?;
            logits = Some(
                self.weights
                    .forward(&input, n * chunk)
                    .and_then(|l| l.squeeze(0))
                    .map_err(run)?,
            );
        }
        let logits = logits.ok_or_else(|| LlmError::Run("empty prompt".into()))?;
        let penalty = options.repeat_penalty;
        let mut next = self.pick(logits, &mut sampler, guide.as_deref_mut(), &[], penalty)?;
        let prefill_seconds = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let mut pace = Pace::new(self.solo.clone());
        let mut tokens = Vec::new();
        // What `on_text` has been given: a decoded text that ends in an
        // incomplete character (byte fallback shows U+FFFD until the rest
        // arrives) or that no longer starts with it waits, so the pieces
        // always add up to the answer.
        let mut shown = String::new();
        let stop = loop {
            if options.cancel.is_cancelled() {
                break StopReason::Cancelled;
            }
            if self.stop_ids.contains(&next) {
                break StopReason::EndOfTurn;
            }
            tokens.push(next);
            if let Some(g) = guide.as_deref_mut() {
                g.accept(next)?;
            }
            let text = self
                .tokenizer
                .decode(&tokens, true)
                .map_err(|e| LlmError::Run(e.to_string()))?;
            if text.len() > shown.len() && !text.ends_with('\u{FFFD}') && text.starts_with(&shown) {
                on_text(&text[shown.len()..]);
                shown = text;
            }
            if guide.as_deref().is_some_and(Guide::is_complete) {
                break StopReason::Complete;
            }
            if tokens.len() >= options.max_tokens {
                break StopReason::MaxTokens;
            }
            let pos = prompt_ids.len() + tokens.len() - 1;
            if pos + 1 >= self.info.context_length {
                break StopReason::ContextFull;
            }
            let logits = pace.step(|| self.step(next, pos))?;
            let recent = &tokens[tokens.len().saturating_sub(options.repeat_last_n)..];
            next = self.pick(logits, &mut sampler, guide.as_deref_mut(), recent, penalty)?;
        };
        let text = self
            .tokenizer
            .decode(&tokens, true)
            .map_err(|e| LlmError::Run(e.to_string()))?;
        Ok(Generation {
            prompt_tokens: prompt_ids.len(),
            tokens,
            text,
            stop,
            prefill_seconds,
            decode_seconds: started.elapsed().as_secs_f64(),
            remote: None,
        })
    }
}
