//! llama.cpp's server (`llama-cpp-python[server]` from PyPI, pinned,
//! installed by the test command's set-up as `$WRIT_LLAMACPP_PYTHON`)
//! serving the pinned SmolLM2 GGUF on a free loopback port.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server, stopped on drop.
pub struct Llama {
    child: Child,
    /// Its API base, `http://127.0.0.1:PORT/v1`.
    pub url: String,
}

impl Llama {
    /// Starts the server with `args` added to its command line, and waits
    /// until it listens.
    pub fn start(args: &[&str]) -> Llama {
        let python = std::env::var_os("WRIT_LLAMACPP_PYTHON").unwrap_or_else(|| {
            panic!("WRIT_LLAMACPP_PYTHON is not set: scripts/setup.sh (run by scripts/test.sh with WRIT_BROWSER=1) installs llama-cpp-python[server] and sets it")
        });
        let model = writ_core::model_cache_dir(None).join("smollm2-135m-instruct-q4_1/model.gguf");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(python)
            .args(["-m", "llama_cpp.server", "--model"])
            .arg(&model)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--n_threads", "2"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}/v1");
        let started = Instant::now();
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the llama.cpp server did not start"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        Llama { child, url }
    }
}

impl Drop for Llama {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
