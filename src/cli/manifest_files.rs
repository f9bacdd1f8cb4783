//! What `-f` names: a manifest file, a directory of them (its `.yaml`, `.yml` and `.json` files
//! in name order, not recursing, as `kubectl apply -f DIR` does), or `-` for standard input.
//! Reading is separate from parsing so that every document of every file is reported on its
//! own: one broken document does not hide the others.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use flotilla_kernel::object::{ManifestError, Object, parse_manifests};

use super::namespace::{self, NamespaceMismatch};

/// The argument of `-f` meaning standard input.
const STDIN_ARG: &str = "-";
/// How standard input is named in error messages.
const STDIN_NAME: &str = "<stdin>";
/// File name extensions a directory's manifests have.
const MANIFEST_EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// The text of one manifest file and the name its errors are reported under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestSource {
    pub name: String,
    pub text: String,
}

/// A `-f` argument could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestFilesError {
    #[error("the path \"{}\" does not exist", path.display())]
    Missing { path: PathBuf },
    #[error("reading {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("listing the directory {}", path.display())]
    ListDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("reading standard input")]
    Stdin(#[source] io::Error),
}

/// Reads every manifest the `-f` arguments name, in order.
pub fn read_sources(args: &[String]) -> Result<Vec<ManifestSource>, ManifestFilesError> {
    let mut sources = Vec::new();
    for arg in args {
        if arg == STDIN_ARG {
            let mut text = String::new();
            io::stdin()
                .read_to_string(&mut text)
                .map_err(ManifestFilesError::Stdin)?;
            sources.push(ManifestSource {
                name: STDIN_NAME.to_string(),
                text,
            });
            continue;
        }
        for path in files_named_by(Path::new(arg))? {
            let text =
                std::fs::read_to_string(&path).map_err(|source| ManifestFilesError::Read {
                    path: path.clone(),
                    source,
                })?;
            sources.push(ManifestSource {
                name: path.display().to_string(),
                text,
            });
        }
    }
    Ok(sources)
}

/// A manifest document that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Namespace(#[from] NamespaceMismatch),
}

/// Parses every document of every source, in order, each namespaced object placed in its
/// namespace (see [`namespace::place`]).
pub fn objects(
    sources: &[ManifestSource],
    namespace_flag: Option<&str>,
) -> Vec<Result<Object, DocumentError>> {
    sources
        .iter()
        .flat_map(|source| parse_manifests(&source.name, &source.text))
        .map(|document| {
            let mut object = document?;
            namespace::place(&mut object, namespace_flag)?;
            Ok(object)
        })
        .collect()
}

/// The file itself, or the manifests directly inside a directory.
fn files_named_by(path: &Path) -> Result<Vec<PathBuf>, ManifestFilesError> {
    let metadata = std::fs::metadata(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => ManifestFilesError::Missing {
            path: path.to_path_buf(),
        },
        _ => ManifestFilesError::Read {
            path: path.to_path_buf(),
            source,
        },
    })?;
    if !metadata.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let list_error = |source| ManifestFilesError::ListDir {
        path: path.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(list_error)? {
        let entry = entry.map_err(list_error)?;
        if entry.file_type().map_err(list_error)?.is_file() {
            files.push(entry.path());
        }
    }
    Ok(manifests_among(files))
}

/// The manifest files among a directory's files, in name order.
fn manifests_among(files: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut manifests: Vec<PathBuf> = files
        .into_iter()
        .filter(|file| {
            file.extension()
                .and_then(|extension| extension.to_str())
                .is_some_and(|extension| {
                    MANIFEST_EXTENSIONS
                        .iter()
                        .any(|known| extension.eq_ignore_ascii_case(known))
                })
        })
        .collect();
    manifests.sort();
    manifests
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory removed when the test ends, pass or fail.
    struct ScratchDir(PathBuf);

    impl ScratchDir {
        fn new(test: &str) -> Self {
            let path =
                std::env::temp_dir().join(format!("flotilla-cli-{test}-{}", std::process::id()));
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }
    }

    impl Drop for ScratchDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_directory_contributes_its_manifests_in_name_order() {
        let files = [
            "b.yml",
            "a.yaml",
            "notes.txt",
            "c.JSON",
            "README",
            "d.yaml.bak",
        ]
        .map(PathBuf::from)
        .to_vec();
        assert_eq!(
            manifests_among(files),
            ["a.yaml", "b.yml", "c.JSON"].map(PathBuf::from).to_vec()
        );
    }

    #[test]
    fn reading_a_directory_skips_subdirectories_and_other_files() {
        let dir = ScratchDir::new("read-dir");
        std::fs::write(dir.0.join("2-pod.yaml"), "kind: Pod\n").unwrap();
        std::fs::write(dir.0.join("1-ns.json"), "{}").unwrap();
        std::fs::write(dir.0.join("notes.md"), "hello").unwrap();
        std::fs::create_dir(dir.0.join("nested.yaml")).unwrap();
        let arg = dir.0.display().to_string();
        let sources = read_sources(&[arg]).unwrap();
        let names: Vec<String> = sources.iter().map(|source| source.name.clone()).collect();
        assert_eq!(
            names,
            vec![
                dir.0.join("1-ns.json").display().to_string(),
                dir.0.join("2-pod.yaml").display().to_string(),
            ]
        );
        assert_eq!(sources[1].text, "kind: Pod\n");
    }

    #[test]
    fn a_single_file_is_read_whatever_its_name() {
        let dir = ScratchDir::new("read-file");
        let file = dir.0.join("manifest.txt");
        std::fs::write(&file, "kind: Namespace\n").unwrap();
        let sources = read_sources(&[file.display().to_string()]).unwrap();
        assert_eq!(sources.len(), 1);
        assert_eq!(sources[0].text, "kind: Namespace\n");
    }

    #[test]
    fn documents_are_placed_in_the_chosen_namespace() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n\
                    ---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: b\n  namespace: dev\n\
                    ---\napiVersion: v1\nkind: Widget\n";
        let sources = [ManifestSource {
            name: "pods.yaml".to_string(),
            text: text.to_string(),
        }];
        let placed = objects(&sources, None);
        assert_eq!(placed.len(), 3);
        let namespaces: Vec<String> = placed[..2]
            .iter()
            .map(|object| object.as_ref().unwrap().meta().namespace.clone())
            .collect();
        assert_eq!(namespaces, ["default", "dev"]);
        assert!(matches!(placed[2], Err(DocumentError::Manifest(_))));
        let mismatched = objects(&sources, Some("prod"));
        assert_eq!(mismatched[0].as_ref().unwrap().meta().namespace, "prod");
        assert!(matches!(mismatched[1], Err(DocumentError::Namespace(_))));
    }

    #[test]
    fn a_missing_path_is_named() {
        let dir = ScratchDir::new("missing");
        let missing = dir.0.join("nope.yaml");
        let error = read_sources(&[missing.display().to_string()]).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("the path \"{}\" does not exist", missing.display())
        );
    }
}
