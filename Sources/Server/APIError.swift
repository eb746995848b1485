import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An error answered as JSON `{"error": code, "message": text}` with its HTTP status. Messages
/// name ids and codes only, never PHI.
public struct APIError: Error, HTTPResponseError, Sendable, CustomStringConvertible {
    public let status: HTTPResponse.Status
    /// A stable machine-readable code, e.g. `invalid_token`, `not_found`.
    public let code: String
    public let message: String
    /// Extra headers, e.g. `WWW-Authenticate` on 401.
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        let body = JSON.encode(["error": code, "message": message])
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func badRequest(_ message: String) -> APIError { APIError(.badRequest, "bad_request", message) }
    static func notFound(_ message: String) -> APIError { APIError(.notFound, "not_found", message) }
    static func forbidden(_ message: String) -> APIError { APIError(.forbidden, "forbidden", message) }
    static func unauthorized(_ code: String, _ message: String) -> APIError {
        var error = APIError(.unauthorized, code, message)
        error.headers[.wwwAuthenticate] = "Bearer realm=\"careledger\", error=\"\(code)\""
        return error
    }
}

/// JSON bodies built from plain dictionaries and arrays, with sorted keys so output is stable.
enum JSON {
    static func encode(_ value: Any) -> [UInt8] {
        guard JSONSerialization.isValidJSONObject(value),
              let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            preconditionFailure("not a JSON object: \(type(of: value))")
        }
        return Array(data)
    }

    /// A 200 (or `status`) JSON response.
    static func response(_ value: Any, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: encode(value))))
    }
}
