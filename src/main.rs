fn main() -> std::process::ExitCode {
    let result = nbwarden::cli::main();
    nbwarden::exit::exit_code(&result)
}
