//! Serving `flotilla image import --node`: the archive arrives as the call's input and goes into
//! the node's image store as a local `flotilla image import` puts a file there: every image of
//! it or none. An upload that stops before its end (the caller went away) imports nothing.

use std::cmp::min;
use std::io::{self, Read};
use std::path::PathBuf;

use tokio::sync::mpsc;

use flotilla_images::ImageStore;
use flotilla_kernel::api::{ApiError, ErrorCode, ImportedImage, Input, Response};

/// Imports the archive `inputs` carry into the store at `image_dir`; answers on `reply`.
pub async fn serve(
    image_dir: PathBuf,
    base_name: Option<String>,
    inputs: mpsc::Receiver<Input>,
    reply: mpsc::Sender<Response>,
) {
    let imported = tokio::task::spawn_blocking(move || {
        let mut store = ImageStore::open(&image_dir).map_err(|error| {
            ApiError::internal(format!(
                "opening the image store {}: {error}",
                image_dir.display()
            ))
        })?;
        let mut upload = Upload::new(inputs);
        store
            .import(&mut upload, base_name.as_deref())
            .map_err(|error| ApiError::new(ErrorCode::BadRequest, error.to_string()))
    })
    .await;
    let answer = match imported {
        Ok(Ok(images)) => Response::ImagesImported(
            images
                .into_iter()
                .map(|image| ImportedImage {
                    name: image.reference.to_string(),
                    digest: image.digest.to_string(),
                    size: image.size,
                })
                .collect(),
        ),
        Ok(Err(error)) => Response::Error(error),
        Err(error) => Response::Error(ApiError::internal(format!("the import failed: {error}"))),
    };
    let _ = reply.send(answer).await;
}

/// The uploaded archive as a reader: its `Data` until its `End`. Read on the blocking pool.
struct Upload {
    inputs: mpsc::Receiver<Input>,
    chunk: Vec<u8>,
    read: usize,
    ended: bool,
}

impl Upload {
    fn new(inputs: mpsc::Receiver<Input>) -> Self {
        Self {
            inputs,
            chunk: Vec::new(),
            read: 0,
            ended: false,
        }
    }
}

impl Read for Upload {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        while self.read == self.chunk.len() {
            if self.ended {
                return Ok(0);
            }
            match self.inputs.blocking_recv() {
                Some(Input::Data(data)) => {
                    self.chunk = data;
                    self.read = 0;
                }
                Some(Input::End) => self.ended = true,
                Some(Input::Resize(_)) => {}
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the upload stopped before the end of the archive",
                    ));
                }
            }
        }
        let count = min(buffer.len(), self.chunk.len() - self.read);
        buffer[..count].copy_from_slice(&self.chunk[self.read..self.read + count]);
        self.read += count;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_reads_its_data_until_its_end() {
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Input::Data(b"abc".to_vec())).unwrap();
        tx.try_send(Input::Data(b"de".to_vec())).unwrap();
        tx.try_send(Input::End).unwrap();
        let mut text = String::new();
        Upload::new(rx).read_to_string(&mut text).unwrap();
        assert_eq!(text, "abcde");
    }

    #[test]
    fn an_upload_cut_short_is_an_error() {
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Input::Data(b"abc".to_vec())).unwrap();
        drop(tx);
        let mut bytes = Vec::new();
        let error = Upload::new(rx).read_to_end(&mut bytes).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }
}
