//! The `kujenga` command; all the work is in the library.

fn main() -> std::process::ExitCode {
    kujenga::cli::main()
}
