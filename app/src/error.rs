//! The error every server function returns: it crosses the wire as JSON, carries a Spanish
//! message the UI shows as it is, and knows its HTTP status (set by the server's `/sfn` layer).

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum AppError {
    #[error("Tu sesión ha caducado o no has iniciado sesión.")]
    Unauthorized,
    #[error("No tienes permiso para hacer esto.")]
    Forbidden,
    /// Login refused. One message for an unknown e-mail and a wrong password alike.
    #[error("El correo o la contraseña no son correctos.")]
    InvalidCredentials,
    #[error("{message}")]
    InvalidInput {
        /// The form field at fault, when there is one.
        field: Option<String>,
        message: String,
    },
    /// The password was right, but an admin disabled the account.
    #[error("Esta cuenta está desactivada. Pide a un administrador que la vuelva a activar.")]
    AccountDisabled,
    #[error("{message}")]
    TooManyAttempts {
        message: String,
        retry_after_seconds: i64,
    },
    #[error("No se ha encontrado lo que buscas.")]
    NotFound,
    /// A lead with this phone already exists; the form links to it.
    #[error("Este teléfono ya pertenece a {name}.")]
    PhoneTaken { lead_id: i64, name: String },
    #[error("Ha ocurrido un error inesperado. Inténtalo de nuevo en unos minutos.")]
    Internal,
    /// The database cannot take the change now (disk full, read-only, locked): nothing changed.
    #[error("No se ha podido guardar: la base de datos no admite cambios en este momento. No se ha modificado nada; inténtalo de nuevo en unos minutos.")]
    Unavailable,
    /// The browser could not reach the server or read its answer.
    #[error("No se ha podido contactar con el servidor. Comprueba la conexión.")]
    Network,
}

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::InvalidInput {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            AppError::Unauthorized | AppError::InvalidCredentials => 401,
            AppError::Forbidden | AppError::AccountDisabled => 403,
            AppError::NotFound => 404,
            AppError::PhoneTaken { .. } => 409,
            AppError::InvalidInput { .. } => 422,
            AppError::TooManyAttempts { .. } => 429,
            AppError::Internal => 500,
            AppError::Unavailable => 503,
            AppError::Network => 502,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // The parser's detail can quote what the client sent: it is not said back (an error
            // travels in a URL when a form posts without JavaScript, and would show the
            // client's words as the server's).
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => AppError::InvalidInput {
                field: None,
                message: "Los datos enviados no son válidos.".to_string(),
            },
            ServerFnErrorErr::Request(_)
            | ServerFnErrorErr::Deserialization(_)
            | ServerFnErrorErr::Serialization(_)
            | ServerFnErrorErr::UnsupportedRequestMethod(_) => AppError::Network,
            ServerFnErrorErr::Registration(_)
            | ServerFnErrorErr::ServerError(_)
            | ServerFnErrorErr::MiddlewareError(_)
            | ServerFnErrorErr::Response(_) => AppError::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_with_a_machine_readable_tag() {
        let json = serde_json::to_value(AppError::invalid("email", "falta")).unwrap();
        assert_eq!(json["error"], "invalid_input");
        assert_eq!(json["field"], "email");
        let back: AppError = serde_json::from_value(json).unwrap();
        assert_eq!(back.status(), 422);
    }

    #[test]
    fn bad_arguments_are_the_clients_fault() {
        let err = AppError::from_server_fn_error(ServerFnErrorErr::Args("x".into()));
        assert_eq!(err.status(), 422);
    }
}
