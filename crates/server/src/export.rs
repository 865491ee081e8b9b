//! `GET /api/v1/customers/export?view=&search=&kind=&sort=&format=csv|xlsx[&ids=]`: the
//! customers of a view (or of ticked rows) with their record counts per kind, as a download. CSV is streamed as it is read
//! (a million customers never sit in memory); a workbook is written in constant memory to a
//! temporary file and streamed from there. Needs the model's `export` permission.

use std::io::Write;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tokio::sync::mpsc;

use offboard_model::model::Operation;
use offboard_store::customers::ListQuery;

use crate::api::{act, Caller};
use crate::requests::ListParams;
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/customers/export", get(export))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportParams {
    view: Option<String>,
    search: Option<String>,
    kind: Option<String>,
    sort: Option<String>,
    format: Option<String>,
    /// Only these customers, by id (`ids=11,14`; at most 1,000): a selection of ticked rows.
    ids: Option<String>,
}

/// Most ids an export of ticked rows names (a larger selection is a query: `view`, `search`).
const MAX_IDS: usize = 1_000;

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Csv,
    Xlsx,
}

type Chunk = Result<Bytes, std::io::Error>;

/// Writes into the response body: 64 KiB at a time, waiting while the client reads (the
/// channel is small), failing when the client went away.
struct ToBody {
    tx: mpsc::Sender<Chunk>,
    buf: Vec<u8>,
}

impl Write for ToBody {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::other("the client went away"))
    }
}

async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<ExportParams>,
) -> Result<Response, ApiError> {
    let format = match p.format.as_deref().unwrap_or("csv") {
        "csv" => Format::Csv,
        "xlsx" => Format::Xlsx,
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown format `{other}`; formats are: csv, xlsx"
            )))
        }
    };
    let ids: Option<Vec<i64>> = match p.ids.as_deref() {
        None => None,
        Some(text) => {
            let mut list = Vec::new();
            for part in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                list.push(part.parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!("`{part}` in `ids` is not a customer id"))
                })?);
            }
            if list.len() > MAX_IDS {
                return Err(ApiError::bad_request(format!(
                    "`ids` names {} customers; at most {MAX_IDS} (export a view or a search instead)",
                    list.len()
                )));
            }
            Some(list)
        }
    };
    let params = ListParams {
        view: p.view,
        search: p.search,
        kind: p.kind,
        sort: p.sort,
        ..Default::default()
    };
    // The permission and the query are checked before anything is sent.
    let query: ListQuery = act(&state, caller.clone(), move |e| {
        e.allow(Operation::Export)?;
        let mut q = params.query(e.read().model().default_view)?;
        if let Some(k) = &q.kind {
            if !e.read().model().customer.kinds.contains(k) {
                return Err(ApiError::bad_request(format!(
                    "unknown kind `{k}`; kinds are: {}",
                    e.read().model().customer.kinds.join(", ")
                )));
            }
        }
        q.limit = None;
        q.offset = 0;
        q.ids = ids;
        Ok(q)
    })
    .await?;
    let file_name = format!(
        "customers-{}.{}",
        query.view.name(),
        if format == Format::Csv { "csv" } else { "xlsx" }
    );
    let (tx, mut rx) = mpsc::channel::<Chunk>(4);
    let failed = tx.clone();
    let writer_state = state.clone();
    tokio::spawn(async move {
        let result = act(&writer_state, caller, move |e| {
            let mut out = ToBody {
                tx,
                buf: Vec::with_capacity(64 * 1024),
            };
            match format {
                Format::Csv => {
                    e.read().export_view_csv(&query, &mut out)?;
                }
                Format::Xlsx => {
                    let path = std::env::temp_dir().join(format!(
                        "offboard-export-{}-{}.xlsx",
                        std::process::id(),
                        std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_nanos())
                            .unwrap_or(0)
                    ));
                    let written = e.read().export_view_xlsx(&query, &path).and_then(|_| {
                        let mut file = std::fs::File::open(&path).map_err(|source| {
                            offboard_store::StoreError::Io {
                                context: "cannot read the workbook".into(),
                                source,
                            }
                        })?;
                        std::io::copy(&mut file, &mut out).map_err(|source| {
                            offboard_store::StoreError::Io {
                                context: "cannot send the workbook".into(),
                                source,
                            }
                        })?;
                        Ok(())
                    });
                    let _ = std::fs::remove_file(&path);
                    written?;
                }
            }
            out.flush()
                .map_err(|e| ApiError::internal(format!("cannot send the export: {e}")))?;
            Ok(())
        })
        .await;
        if let Err(e) = result {
            // The status line is sent already: the body ends with an error, and the client
            // sees a broken download rather than a short file that looks whole.
            tracing::warn!(error = %e.message, "the export failed");
            let _ = failed.send(Err(std::io::Error::other(e.message))).await;
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let content_type = match format {
        Format::Csv => "text/csv; charset=utf-8",
        Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
