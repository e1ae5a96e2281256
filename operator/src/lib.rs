//! The OzoneManagerRing operator (work in progress).
