import Foundation
public import HTTPTypes
public import Hummingbird
import NIOCore
import Services

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
        (self.status, self.code, self.message) = (status, code, message)
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        let body = JSON.encode(["error": code, "message": message])
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// A service's error with the status its kind means.
    init(_ error: ServiceError) {
        switch error.kind {
        case .invalid: self = .badRequest(error.message)
        case .notFound: self = .notFound(error.message)
        case .forbidden: self = .forbidden(error.message)
        case .conflict: self.init(.conflict, "conflict", error.message)
        case .unavailable: self.init(.serviceUnavailable, "unavailable", error.message)
        }
    }

    /// A service's error as the HTTP answer: a `ServiceError` by its kind, a contract's refusal as
    /// 422 with its code, anything else as 503.
    static func of(_ error: any Error) -> APIError {
        switch error {
        case let error as APIError: error
        case let error as ServiceError: APIError(error)
        case let refused as Refused: APIError(.unprocessableContent, refused.code, refused.message)
        default: APIError(.serviceUnavailable, "unavailable", "\(error)")
        }
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

    /// A 200 JSON response of what `body` reads; a service error becomes its HTTP status.
    static func read(_ body: () throws(ServiceError) -> JSONObject) throws(APIError) -> Response {
        do { return response(try body()) } catch { throw APIError(error) }
    }

    /// The same for a read model that logs its decision first.
    static func read(_ body: () async throws(ServiceError) -> JSONObject) async throws(APIError) -> Response {
        do { return response(try await body()) } catch { throw APIError(error) }
    }

    /// A 200 (or `status`) JSON response.
    static func response(_ value: Any, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: encode(value))))
    }
}
