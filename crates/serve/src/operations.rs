//! The API's operations as data: method, path, `operationId`, the token
//! each needs and the failures it can answer with. The router (`routes`)
//! routes each row to its handler and the OpenAPI document (`openapi`)
//! describes each row, so neither can name an operation the other lacks
//! (tests check both ways). Data only: both of them import it.

use crate::auth::Access;

/// An HTTP method of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    /// Reads.
    Get,
    /// Everything that takes a body.
    Post,
}

impl Verb {
    /// Its name in OpenAPI (`get`, `post`).
    pub(crate) fn key(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
        }
    }
}

/// One operation of the API.
pub(crate) struct Operation {
    /// The method.
    pub(crate) verb: Verb,
    /// The path, with `{id}` for a path parameter.
    pub(crate) path: &'static str,
    /// The OpenAPI `operationId` (links name operations by it).
    pub(crate) id: &'static str,
    /// Which token it needs.
    pub(crate) access: Access,
    /// Whether it takes a JSON body (and so may answer 400, 413, 415).
    pub(crate) body: bool,
    /// The statuses of its own failures, beyond those its access, its
    /// body and the Host check imply: 400 for a bad query or path, 404,
    /// 409, and 500 and 503 for whatever runs the service.
    pub(crate) fails: &'static [u16],
}

/// Runs the service: the index, the ledger or a model.
const SERVICE: [u16; 2] = [500, 503];

/// The API, one row per operation (the page at `/` is not part of it).
pub(crate) const OPERATIONS: &[Operation] = &[
    Operation {
        verb: Verb::Get,
        path: "/v1/openapi.json",
        id: "openapi",
        access: Access::Public,
        body: false,
        fails: &[],
    },
    Operation {
        verb: Verb::Get,
        path: "/v1/status",
        id: "status",
        access: Access::Read,
        body: false,
        fails: &SERVICE,
    },
    Operation {
        verb: Verb::Get,
        path: "/v1/search",
        id: "searchGet",
        access: Access::Read,
        body: false,
        // 409: a cursor from an index generation since replaced.
        fails: &[400, 409, 500, 503],
    },
    Operation {
        verb: Verb::Post,
        path: "/v1/search",
        id: "search",
        access: Access::Read,
        body: true,
        // 409: a cursor from an index generation since replaced.
        fails: &[409, 500, 503],
    },
    Operation {
        verb: Verb::Post,
        path: "/v1/ask",
        id: "ask",
        access: Access::Propose,
        body: true,
        // 404: nothing in the index matches; 409: the rule set does not load.
        fails: &[404, 409, 500, 503],
    },
    Operation {
        verb: Verb::Post,
        path: "/v1/ask/stream",
        id: "askStream",
        access: Access::Propose,
        body: true,
        // As ask, for what fails before the first piece; later failures
        // are an `error` event of the stream.
        fails: &[404, 409, 500, 503],
    },
    Operation {
        verb: Verb::Get,
        path: "/v1/proposals",
        id: "listProposals",
        access: Access::Read,
        body: false,
        fails: &[400, 404, 500, 503],
    },
    Operation {
        verb: Verb::Post,
        path: "/v1/proposals",
        id: "propose",
        access: Access::Propose,
        body: true,
        fails: &[409, 500, 503],
    },
    Operation {
        verb: Verb::Get,
        path: "/v1/proposals/{id}",
        id: "getProposal",
        access: Access::Read,
        body: false,
        fails: &[400, 404, 500, 503],
    },
    Operation {
        verb: Verb::Post,
        path: "/v1/proposals/{id}/approve",
        id: "approveProposal",
        access: Access::Review,
        body: true,
        fails: &[404, 409, 500, 503],
    },
    Operation {
        verb: Verb::Post,
        path: "/v1/proposals/{id}/reject",
        id: "rejectProposal",
        access: Access::Review,
        body: true,
        fails: &[404, 409, 500, 503],
    },
    Operation {
        verb: Verb::Get,
        path: "/v1/chunks/{id}",
        id: "getChunk",
        access: Access::Read,
        body: false,
        fails: &[400, 404, 500, 503],
    },
    Operation {
        verb: Verb::Get,
        path: "/v1/explain/{id}",
        id: "explain",
        access: Access::Read,
        body: false,
        fails: &[400, 404, 500, 503],
    },
    Operation {
        verb: Verb::Get,
        path: "/v1/verify",
        id: "verify",
        access: Access::Read,
        body: false,
        fails: &[404, 500, 503],
    },
    Operation {
        verb: Verb::Get,
        path: "/v1/actions",
        id: "listActions",
        access: Access::Read,
        body: false,
        fails: &[404, 500, 503],
    },
];

/// Every proposal state, as the ledger names them (`?state=`).
pub(crate) const STATES: [&str; 9] = [
    "proposed",
    "refused",
    "allowed",
    "forbidden",
    "held",
    "approved",
    "rejected",
    "recorded",
    "applied",
];
