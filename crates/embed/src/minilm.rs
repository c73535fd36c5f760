//! A BERT sentence-transformer (all-MiniLM-L6-v2 and its relatives) on candle.

use crate::fused::{Encoder, Shape, Workspace};
use candle_core::{DType, Device, Tensor, D};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config, HiddenAct};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokenizers::{Tokenizer, TruncationParams, TruncationStrategy};
use writ_core::{EmbedError, Embedder, ModelInfo, Precision};

/// Why a model directory could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A file the model needs is missing.
    #[error("model file `{}` is missing", path.display())]
    Missing {
        /// The missing file.
        path: PathBuf,
    },
    /// A file could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// `config.json` is not a BERT configuration.
    #[error("`{}` is not a BERT config: {message}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// The tokenizer file could not be used.
    #[error("tokenizer `{}` cannot be used: {message}", path.display())]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// The weights do not fit the configuration.
    #[error("weights `{}` cannot be loaded: {message}", path.display())]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
}

/// Options for [`MiniLm::load_with`]; [`Default`] gives the values
/// all-MiniLM-L6-v2 was trained with.
#[derive(Debug, Clone)]
pub struct MiniLmOptions {
    /// Model id recorded in index manifests. Default: the folder's name.
    pub id: Option<String>,
    /// Truncation length in tokens. Default: 256 (the model's `max_seq_length`).
    pub max_tokens: usize,
    /// Upper bound on `batch size * padded length` per forward pass.
    /// Default: 2,048 tokens (8 texts of 256 tokens). For the fused pass
    /// 1,024 to 8,192 measured within 4% of each other; for candle's, larger
    /// batches page-fault their attention tensors.
    pub batch_tokens: usize,
    /// Batches run at once, each on its own thread. Default: 1.
    pub workers: usize,
    /// Which forward pass computes the embeddings. Default: [`Forward::Fused`].
    pub forward: Forward,
    /// Arithmetic of the dense layers. Default: f32. Int8 needs the fused
    /// pass; a checkpoint that falls back to candle's runs f32 and says so
    /// in [`ModelInfo::precision`].
    pub precision: Precision,
}

/// The implementation of the BERT forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Forward {
    /// writ's own pass: unpadded batches, fused bias and activation,
    /// vectorised kernels, reused buffers. Used when the checkpoint is a
    /// plain BERT with the exact GELU; otherwise writ falls back to
    /// [`Forward::Candle`].
    Fused,
    /// candle-transformers' `BertModel` on padded batches: the reference
    /// the fused pass is tested against.
    Candle,
}

/// The loaded forward pass.
enum Pass {
    Fused {
        encoder: Encoder,
        /// Idle workspaces, one per worker that has run.
        spare: Mutex<Vec<Workspace>>,
    },
    Candle(BertModel),
}

impl Default for MiniLmOptions {
    fn default() -> Self {
        MiniLmOptions {
            id: None,
            max_tokens: 256,
            batch_tokens: 2048,
            workers: 1,
            forward: Forward::Fused,
            precision: Precision::F32,
        }
    }
}

/// A loaded BERT sentence-embedding model.
pub struct MiniLm {
    pass: Pass,
    /// Truncating tokenizer used for embedding.
    tokenizer: Tokenizer,
    /// Non-truncating tokenizer used to count tokens.
    counter: Tokenizer,
    info: ModelInfo,
    batch_tokens: usize,
    workers: usize,
}

impl MiniLm {
    /// Loads the model in `dir` with default options.
    pub fn load(dir: &Path) -> Result<MiniLm, LoadError> {
        MiniLm::load_with(dir, MiniLmOptions::default())
    }

    /// Loads the model in `dir` (`config.json`, `tokenizer.json`,
    /// `model.safetensors`).
    pub fn load_with(dir: &Path, options: MiniLmOptions) -> Result<MiniLm, LoadError> {
        let file = |name: &str| -> Result<PathBuf, LoadError> {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(LoadError::Missing { path })
            }
        };
        let config_path = file("config.json")?;
        let tokenizer_path = file("tokenizer.json")?;
        let weights_path = file("model.safetensors")?;

        let config_text =
            std::fs::read_to_string(&config_path).map_err(|source| LoadError::Io {
                path: config_path.clone(),
                source,
            })?;
        let config: Config = serde_json::from_str(&config_text).map_err(|e| LoadError::Config {
            path: config_path.clone(),
            message: e.to_string(),
        })?;
        let dim = config.hidden_size;

        let tok_err = |e: tokenizers::Error| LoadError::Tokenizer {
            path: tokenizer_path.clone(),
            message: e.to_string(),
        };
        let mut counter = Tokenizer::from_file(&tokenizer_path).map_err(tok_err)?;
        // The shipped tokenizer.json fixes truncation and padding at 128;
        // writ pads per batch itself and truncates at `max_tokens`.
        counter.with_padding(None);
        counter.with_truncation(None).map_err(tok_err)?;
        let mut tokenizer = counter.clone();
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: options.max_tokens,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                ..Default::default()
            }))
            .map_err(tok_err)?;

        let device = Device::Cpu;
        let weights_err = |e: candle_core::Error| LoadError::Weights {
            path: weights_path.clone(),
            message: e.to_string(),
        };
        let tensors =
            candle_core::safetensors::load(&weights_path, &device).map_err(weights_err)?;
        let fused = match options.forward {
            Forward::Fused if config.hidden_act == HiddenAct::Gelu => {
                let shape = Shape {
                    dim,
                    heads: config.num_attention_heads,
                    layers: config.num_hidden_layers,
                    inter: config.intermediate_size,
                    eps: config.layer_norm_eps,
                };
                Encoder::load(&tensors, &shape, options.precision).ok()
            }
            _ => None,
        };
        let precision = if fused.is_some() {
            options.precision
        } else {
            Precision::F32
        };
        let pass = match fused {
            Some(encoder) => Pass::Fused {
                encoder,
                spare: Mutex::new(Vec::new()),
            },
            None => {
                let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
                Pass::Candle(BertModel::load(vb, &config).map_err(weights_err)?)
            }
        };

        let sha256 = writ_core::sha256_file(&weights_path).map_err(|source| LoadError::Io {
            path: weights_path.clone(),
            source,
        })?;
        let id = options.id.unwrap_or_else(|| {
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "bert".to_string())
        });
        Ok(MiniLm {
            pass,
            tokenizer,
            counter,
            info: ModelInfo {
                id,
                sha256,
                dim,
                max_tokens: options.max_tokens,
                fingerprint: Vec::new(),
                precision,
            },
            batch_tokens: options.batch_tokens.max(options.max_tokens),
            workers: options.workers.max(1),
        })
    }

    fn take_workspace(&self) -> Workspace {
        match &self.pass {
            Pass::Fused { spare, .. } => spare
                .lock()
                .ok()
                .and_then(|mut s| s.pop())
                .unwrap_or_default(),
            Pass::Candle(_) => Workspace::default(),
        }
    }

    fn return_workspace(&self, ws: Workspace) {
        if let Pass::Fused { spare, .. } = &self.pass {
            if let Ok(mut spare) = spare.lock() {
                spare.push(ws);
            }
        }
    }

    /// The forward pass in use (the fused one unless the checkpoint needs
    /// candle-transformers' general model, or the options asked for it).
    pub fn forward(&self) -> Forward {
        match self.pass {
            Pass::Fused { .. } => Forward::Fused,
            Pass::Candle(_) => Forward::Candle,
        }
    }

    /// Runs one padded batch through candle-transformers' model; returns
    /// `ids.len() * dim` floats.
    fn candle_batch(model: &BertModel, ids: &[&[u32]]) -> candle_core::Result<Vec<f32>> {
        let device = Device::Cpu;
        let max_len = ids.iter().map(|t| t.len()).max().unwrap_or(0).max(1);
        let n = ids.len();
        let mut flat_ids = vec![0u32; n * max_len];
        let mut flat_mask = vec![0u32; n * max_len];
        for (row, toks) in ids.iter().enumerate() {
            let base = row * max_len;
            flat_ids[base..base + toks.len()].copy_from_slice(toks);
            flat_mask[base..base + toks.len()].fill(1);
        }
        let input = Tensor::from_vec(flat_ids, (n, max_len), &device)?;
        let mask = Tensor::from_vec(flat_mask, (n, max_len), &device)?;
        let type_ids = input.zeros_like()?;
        let hidden = model.forward(&input, &type_ids, Some(&mask))?;
        // Mean pooling over real tokens, then L2 normalisation.
        let mask_f = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask_f)?.sum(1)?;
        let counts = mask_f.sum(1)?.clamp(1e-9, f64::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norm = mean
            .sqr()?
            .sum_keepdim(D::Minus1)?
            .sqrt()?
            .clamp(1e-12, f64::MAX)?;
        mean.broadcast_div(&norm)?.flatten_all()?.to_vec1::<f32>()
    }
}

/// Where a worker leaves one batch's vectors.
type BatchSlot = std::sync::Mutex<Option<Result<Vec<f32>, EmbedError>>>;

impl Embedder for MiniLm {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn count_tokens(&self, text: &str) -> usize {
        self.counter
            .encode(text, true)
            .map(|e| e.len())
            .unwrap_or_else(|_| text.len() / 3 + 2)
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<f32>, EmbedError> {
        let dim = self.info.dim;
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        // Longest first, so each batch holds texts of similar length and the
        // batch size adapts to the token budget.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encodings[i].len()));
        // Cut the sorted order into batches under the token budget.
        let mut batches: Vec<&[usize]> = Vec::new();
        let mut start = 0;
        while start < order.len() {
            let longest = encodings[order[start]].len().max(1);
            let end = (start + (self.batch_tokens / longest).max(1)).min(order.len());
            batches.push(&order[start..end]);
            start = end;
        }
        let run = |batch: &[usize], ws: &mut Workspace| -> Result<Vec<f32>, EmbedError> {
            let ids: Vec<&[u32]> = batch.iter().map(|&i| encodings[i].get_ids()).collect();
            match &self.pass {
                Pass::Fused { encoder, .. } => encoder.forward(&ids, ws).map_err(EmbedError::Model),
                Pass::Candle(model) => {
                    Self::candle_batch(model, &ids).map_err(|e| EmbedError::Model(e.to_string()))
                }
            }
        };
        // Workers take batches in turn; results land by batch index.
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<BatchSlot> = batches
            .iter()
            .map(|_| std::sync::Mutex::new(None))
            .collect();
        let work = || {
            let mut ws = self.take_workspace();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(batch) = batches.get(i) else { break };
                let r = run(batch, &mut ws);
                if let Ok(mut slot) = results[i].lock() {
                    *slot = Some(r);
                }
            }
            self.return_workspace(ws);
        };
        std::thread::scope(|scope| {
            for _ in 1..self.workers.min(batches.len()) {
                scope.spawn(work);
            }
            work();
        });
        let mut out = vec![0f32; texts.len() * dim];
        for (batch, slot) in batches.iter().zip(results) {
            let vectors = slot
                .into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| Err(EmbedError::Model("a worker thread died".into())))?;
            for (row, &i) in batch.iter().enumerate() {
                out[i * dim..(i + 1) * dim].copy_from_slice(&vectors[row * dim..(row + 1) * dim]);
            }
        }
        Ok(out)
    }
}
