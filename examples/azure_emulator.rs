//! Runs the emulator until Ctrl-C, until `kv-jit emulator` is wired to the same function:
//! `cargo run --example azure_emulator -- 127.0.0.1:8080 docs/emulator-seed.yaml`

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(seed)) = (args.next(), args.next()) else {
        eprintln!("usage: azure_emulator LISTEN_ADDR SEED_FILE");
        return std::process::ExitCode::from(2);
    };
    let listen = match listen.parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{listen}: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match kv_jit::emulator::run(listen, std::path::Path::new(&seed)).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::from(2)
        }
    }
}
