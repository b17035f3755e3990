/// Errors of the profile-VAE crate.
#[derive(Debug, thiserror::Error)]
pub enum VaeError {
    #[error(transparent)]
    Core(#[from] cellpaint_core::CoreError),
    #[error(transparent)]
    Candle(#[from] cellpaint_core::candle::Error),
    #[error(transparent)]
    Profiles(#[from] profiles::ProfileError),
    #[error("invalid VAE configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Data(String),
}

pub type Result<T, E = VaeError> = std::result::Result<T, E>;
