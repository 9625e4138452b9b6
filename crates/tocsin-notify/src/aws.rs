//! Shared request signing (AWS Signature Version 4) and credentials for the AWS channels.
