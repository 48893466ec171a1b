//! The documented example configuration parses and matches the defaults.

use shirabe::config::Config;

#[test]
fn example_config_parses_and_equals_the_defaults() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shirabe.example.toml");
    let text = std::fs::read_to_string(path).expect("example file");
    // Parsed without the environment layer, which the test runner sets.
    let config: Config = toml::from_str(&text).expect("the example parses");
    assert_eq!(toml::to_string(&config).ok(), toml::to_string(&Config::default()).ok());
}
