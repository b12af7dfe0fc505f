//! `patron`: Patron's one binary.

fn main() -> std::process::ExitCode {
    patron::cli::main()
}
