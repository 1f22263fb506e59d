use std::fmt;

use crate::model::Location;

/// A generator error: what went wrong and where in the XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Where in the XML the problem is.
    pub location: Location,
    /// What is wrong.
    pub message: String,
}

impl Error {
    pub(crate) fn new(location: &Location, message: impl Into<String>) -> Self {
        Error {
            location: location.clone(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: {}: {}",
            self.location.line, self.location.path, self.message
        )
    }
}

impl std::error::Error for Error {}
