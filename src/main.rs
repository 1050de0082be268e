fn main() -> std::process::ExitCode {
    // Reads FAILPOINTS from the environment; compiled in for tests only.
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    let result = nbwarden::cli::main();
    nbwarden::run::exit::exit_code(&result)
}
