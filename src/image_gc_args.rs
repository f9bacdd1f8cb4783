//! When a node removes unused images, as `flotilla up` and `flotilla node` take it: the
//! kubelet's flags and defaults.

use anyhow::bail;
use flotilla_images::{ImageGcPolicy, ImageGcPolicyError};

#[derive(Debug, Clone, clap::Args)]
pub struct ImageGcArgs {
    /// Disk usage of the image store's file system at which unused images are removed, least
    /// recently used first; 100 turns image garbage collection off.
    #[arg(
        long = "image-gc-high-threshold",
        value_name = "PERCENT",
        default_value_t = 85
    )]
    pub high_threshold: u32,
    /// Disk usage image garbage collection brings the file system below.
    #[arg(
        long = "image-gc-low-threshold",
        value_name = "PERCENT",
        default_value_t = 80
    )]
    pub low_threshold: u32,
}

impl ImageGcArgs {
    /// The policy, or why the flags make none.
    pub fn policy(&self) -> anyhow::Result<ImageGcPolicy> {
        match ImageGcPolicy::new(self.high_threshold, self.low_threshold) {
            Ok(policy) => Ok(policy),
            Err(ImageGcPolicyError::HighOutOfRange(_)) => {
                bail!("--image-gc-high-threshold: must be between 0 and 100")
            }
            Err(ImageGcPolicyError::LowOutOfRange(_)) => {
                bail!("--image-gc-low-threshold: must be between 0 and 100")
            }
            Err(ImageGcPolicyError::LowNotBelowHigh { low, high }) => bail!(
                "--image-gc-low-threshold ({low}) must be less than --image-gc-high-threshold \
                 ({high})"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Command {
        #[command(flatten)]
        image_gc: ImageGcArgs,
    }

    fn policy(args: &[&str]) -> anyhow::Result<ImageGcPolicy> {
        let command =
            Command::try_parse_from(std::iter::once("flotilla").chain(args.iter().copied()))?;
        command.image_gc.policy()
    }

    fn error(args: &[&str]) -> String {
        policy(args).unwrap_err().to_string()
    }

    #[test]
    fn the_kubelets_defaults_apply_and_100_turns_collection_off() {
        assert_eq!(policy(&[]).unwrap(), ImageGcPolicy::DEFAULT);
        let tight = policy(&[
            "--image-gc-high-threshold",
            "60",
            "--image-gc-low-threshold",
            "50",
        ]);
        assert_eq!(tight.unwrap(), ImageGcPolicy::new(60, 50).unwrap());
        assert!(
            policy(&["--image-gc-high-threshold", "100"])
                .unwrap()
                .is_disabled()
        );
    }

    #[test]
    fn bad_thresholds_name_their_flag() {
        assert_eq!(
            error(&["--image-gc-high-threshold", "101"]),
            "--image-gc-high-threshold: must be between 0 and 100"
        );
        assert_eq!(
            error(&["--image-gc-low-threshold", "250"]),
            "--image-gc-low-threshold: must be between 0 and 100"
        );
        assert_eq!(
            error(&["--image-gc-low-threshold", "90"]),
            "--image-gc-low-threshold (90) must be less than --image-gc-high-threshold (85)"
        );
        assert_eq!(
            error(&["--image-gc-high-threshold", "80"]),
            "--image-gc-low-threshold (80) must be less than --image-gc-high-threshold (80)"
        );
        let not_a_number = error(&["--image-gc-high-threshold=-5"]);
        assert!(
            not_a_number.contains("--image-gc-high-threshold"),
            "{not_a_number}"
        );
        let not_a_number = error(&["--image-gc-low-threshold", "half"]);
        assert!(
            not_a_number.contains("--image-gc-low-threshold"),
            "{not_a_number}"
        );
    }
}
