public import AsyncHTTPClient
import Foundation
import LedgerCore
import NIOCore
import NIOHTTP1
import Synchronization

/// Why an etcd request failed.
public enum EtcdError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No endpoint answered (each was tried once): the cluster is down or unreachable.
    case unavailable(String)
    /// An endpoint answered with an error (HTTP status and etcd's message), e.g. no leader.
    case refused(status: Int, message: String)
    /// The answer was not what the v3 API sends.
    case malformed(String)
    /// A watch asked for revisions etcd has compacted away; the oldest it still holds follows.
    case compacted(oldestRevision: Int64)

    public var description: String {
        switch self {
        case .unavailable(let why): "etcd is unavailable: \(why)"
        case .refused(let status, let message): "etcd refused the request (HTTP \(status)): \(message)"
        case .malformed(let why): "etcd sent an answer that is not the v3 API's: \(why)"
        case .compacted(let oldest): "etcd has compacted those revisions away; the oldest it holds is \(oldest)"
        }
    }
}

/// One key and its value as etcd stores them, with the revisions that order them.
public struct EtcdKeyValue: Sendable, Equatable {
    public let key: [UInt8]
    public let value: [UInt8]
    /// The revision of the put that created the key (etcd's global order of writes).
    public let createRevision: Int64
    /// The revision of the put that last changed it.
    public let modRevision: Int64
}

/// A client of etcd's v3 API through the JSON gateway etcd 3.4 serves on its client port
/// (`/v3/kv/put`, `/v3/kv/range`, `/v3/kv/txn`, `/v3/kv/compaction`, `/v3/watch`, `/v3/lease/…`),
/// over async-http-client — so the project carries no generated gRPC code. Requests go to the
/// first endpoint that answers; one that cannot be reached is skipped until the others fail too.
/// Keys and values are bytes (base64 in the JSON); revisions are etcd's 64-bit integers.
public final class EtcdClient: Sendable {
    /// Client URLs of the cluster's members, e.g. `http://127.0.0.1:2379`.
    public let endpoints: [String]
    /// How long one request may take (a watch is not bounded).
    public let requestTimeout: Duration
    private let http: HTTPClient

    /// Most bytes one answer may hold (a range page, a watch message).
    public static let answerBytesMax = 64 << 20

    public init(endpoints: [String], requestTimeout: Duration = .seconds(5), http: HTTPClient = EtcdClient.sharedHTTP) {
        precondition(!endpoints.isEmpty, "etcd needs at least one endpoint")
        (self.endpoints, self.requestTimeout, self.http) = (endpoints, requestTimeout, http)
    }

    /// The HTTP client of every etcd client in the process: a member that is down must fail a
    /// request at once (connection refused, or no connection within a second), so the next
    /// member is tried — async-http-client's default retries the connection until the request's
    /// deadline, which a watch does not have; and up to 64 connections per member.
    public static let sharedHTTP: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(1)
        // Each watch holds a connection for good (a node has two: the log and the attestations),
        // so the default of 8 per member would leave puts queueing behind them.
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// The endpoint that answered last: requests start there.
    private let preferred = Mutex(0)

    /// The endpoints in the order to try them: the one that answered last first.
    private var ordered: [String] {
        let start = preferred.withLock { $0 }
        return Array(endpoints[start...] + endpoints[..<start])
    }

    private func answered(_ endpoint: String) {
        if let index = endpoints.firstIndex(of: endpoint) { preferred.withLock { $0 = index } }
    }

    // MARK: key-value

    /// Puts `value` under `key` (bound to `lease` when given); returns the revision of the put.
    @discardableResult
    public func put(_ key: [UInt8], _ value: [UInt8], lease: Int64? = nil) async throws(EtcdError) -> Int64 {
        var body: [String: Any] = ["key": Self.base64(key), "value": Self.base64(value)]
        if let lease { body["lease"] = String(lease) }
        return try Self.revision(of: try await call("/v3/kv/put", body))
    }

    /// Puts every pair in one transaction (etcd allows 128 operations in one by default).
    public func putAll(_ pairs: [(key: [UInt8], value: [UInt8])]) async throws(EtcdError) {
        guard !pairs.isEmpty else { return }
        let body: [String: Any] = ["success": pairs.map { ["request_put": ["key": Self.base64($0.key), "value": Self.base64($0.value)]] }]
        _ = try await call("/v3/kv/txn", body)
    }

    /// Puts `value` under `key` only if the key does not exist; true if it was put. The revision
    /// it was put at, or the existing key's, is returned alike.
    public func putIfAbsent(_ key: [UInt8], _ value: [UInt8]) async throws(EtcdError) -> (put: Bool, revision: Int64) {
        let body: [String: Any] = [
            "compare": [["key": Self.base64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"]],
            "success": [["request_put": ["key": Self.base64(key), "value": Self.base64(value)]]],
            "failure": [["request_range": ["key": Self.base64(key)]]],
        ]
        let answer = try await call("/v3/kv/txn", body)
        let succeeded = answer["succeeded"] as? Bool ?? false
        if succeeded { return (true, try Self.revision(of: answer)) }
        let responses = answer["responses"] as? [[String: Any]] ?? []
        let existing = ((responses.first?["response_range"] as? [String: Any])?["kvs"] as? [[String: Any]])?.first
        guard let existing else { throw .malformed("a failed put-if-absent without the existing key") }
        return (false, try Self.keyValue(existing).createRevision)
    }

    /// Keys with `prefix` in key order, at most `limit`, as of `revision` (nil: now). Also the
    /// store's revision the range was read at, and whether more keys follow.
    public func range(prefix: [UInt8], after: [UInt8]? = nil, limit: Int = 1_000, revision: Int64? = nil) async throws(EtcdError)
        -> (values: [EtcdKeyValue], revision: Int64, more: Bool) {
        var body: [String: Any] = ["key": Self.base64(after.map { $0 + [0] } ?? prefix), "range_end": Self.base64(Self.prefixEnd(prefix)),
                                   "limit": String(limit)]
        if let revision { body["revision"] = String(revision) }
        let answer = try await call("/v3/kv/range", body)
        let kvs = try (answer["kvs"] as? [[String: Any]] ?? []).map { kv throws(EtcdError) in try Self.keyValue(kv) }
        return (kvs, try Self.revision(of: answer), answer["more"] as? Bool ?? false)
    }

    /// Discards the history before `revision` (keys' current values stay).
    public func compact(revision: Int64) async throws(EtcdError) {
        _ = try await call("/v3/kv/compaction", ["revision": String(revision), "physical": true])
    }

    /// The keys (not their values) with `prefix` last written at or before `revision`, in key order,
    /// each with its revisions; at most `limit` (more may be left).
    public func keys(prefix: [UInt8], modifiedThrough revision: Int64, limit: Int = 1_000) async throws(EtcdError) -> [EtcdKeyValue] {
        let body: [String: Any] = ["key": Self.base64(prefix), "range_end": Self.base64(Self.prefixEnd(prefix)), "keys_only": true,
                                   "max_mod_revision": String(revision), "limit": String(limit)]
        let answer = try await call("/v3/kv/range", body)
        return try (answer["kvs"] as? [[String: Any]] ?? []).map { kv throws(EtcdError) in try Self.keyValue(kv) }
    }

    /// Deletes the keys in one transaction (etcd allows 128 operations in one by default).
    public func delete(_ keys: [[UInt8]]) async throws(EtcdError) {
        guard !keys.isEmpty else { return }
        _ = try await call("/v3/kv/txn", ["success": keys.map { ["request_delete_range": ["key": Self.base64($0)]] }])
    }

    /// Deletes every key from `start` up to (not including) `end`; how many there were.
    @discardableResult
    public func deleteRange(from start: [UInt8], to end: [UInt8]) async throws(EtcdError) -> Int64 {
        Self.int(try await call("/v3/kv/deleterange", ["key": Self.base64(start), "range_end": Self.base64(end)])["deleted"]) ?? 0
    }

    // MARK: cluster membership

    /// A member of the etcd cluster.
    public struct Member: Sendable, Equatable {
        public let id: UInt64
        /// Empty for a member added but not started yet.
        public let name: String
        public let peerURLs: [String]
    }

    /// The cluster's members.
    public func members() async throws(EtcdError) -> [Member] {
        let answer = try await call("/v3/cluster/member/list", [:])
        return (answer["members"] as? [[String: Any]] ?? []).compactMap(Self.member)
    }

    /// Adds a member that will join from `peerURL`; start it with `--initial-cluster-state existing`.
    @discardableResult
    public func addMember(peerURL: String) async throws(EtcdError) -> Member {
        let answer = try await call("/v3/cluster/member/add", ["peerURLs": [peerURL]])
        guard let member = (answer["member"] as? [String: Any]).flatMap(Self.member) else { throw .malformed("a member add without the member") }
        return member
    }

    /// Removes a member from the cluster.
    public func removeMember(id: UInt64) async throws(EtcdError) {
        _ = try await call("/v3/cluster/member/remove", ["ID": String(id)])
    }

    private static func member(_ object: [String: Any]) -> Member? {
        guard let id = (object["ID"] as? String).flatMap(UInt64.init) ?? (object["ID"] as? NSNumber)?.uint64Value else { return nil }
        return Member(id: id, name: object["name"] as? String ?? "", peerURLs: object["peerURLs"] as? [String] ?? [])
    }

    // MARK: leases

    /// A lease of `seconds`; keys put with it vanish when it expires unrevived.
    public func grantLease(seconds: Int64) async throws(EtcdError) -> Int64 {
        let answer = try await call("/v3/lease/grant", ["TTL": String(seconds)])
        guard let id = Self.int(answer["ID"]) else { throw .malformed("a lease grant without an ID") }
        return id
    }

    /// Renews a lease; false once it has expired.
    public func keepAlive(lease: Int64) async throws(EtcdError) -> Bool {
        let answer = try await call("/v3/lease/keepalive", ["ID": String(lease)])
        let result = answer["result"] as? [String: Any] ?? answer
        return (Self.int(result["TTL"]) ?? 0) > 0
    }

    // MARK: watch

    /// What a watch delivers: the puts of one revision and later, in revision order.
    public struct WatchBatch: Sendable {
        public let values: [EtcdKeyValue]
        /// The store's revision when etcd sent the batch.
        public let revision: Int64
    }

    /// Every put under `prefix` from `revision` on, in revision order, as etcd sends them; the
    /// stream ends with `.compacted` if those revisions are gone, or with `.unavailable` when the
    /// connection drops (the caller resumes from the last revision it saw). Deletions are left out.
    public func watch(prefix: [UInt8], from revision: Int64) -> AsyncThrowingStream<WatchBatch, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: WatchBatch.self, throwing: (any Error).self)
        let task = Task {
            do {
                try await self.runWatch(prefix: prefix, from: revision) { continuation.yield($0) }
                continuation.finish()
            } catch { continuation.finish(throwing: error) }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private func runWatch(prefix: [UInt8], from revision: Int64, _ deliver: (WatchBatch) -> Void) async throws {
        let body: [String: Any] = ["create_request": ["key": Self.base64(prefix), "range_end": Self.base64(Self.prefixEnd(prefix)),
                                                      "start_revision": String(revision), "filters": ["NODELETE"]]]
        var lastError = EtcdError.unavailable("no endpoint")
        for endpoint in ordered {
            let response: HTTPClientResponse
            do {
                response = try await http.execute(try request(endpoint + "/v3/watch", body), deadline: .distantFuture)
            } catch {
                lastError = .unavailable("\(endpoint): \(error)")
                continue
            }
            answered(endpoint)
            guard response.status == .ok else { throw EtcdError.refused(status: Int(response.status.code), message: "watch") }
            var buffer: [UInt8] = []
            // Bytes of `buffer` already searched for a newline: a big message arrives in many
            // chunks, and each is searched once.
            var searched = 0
            for try await chunk in response.body {
                buffer += chunk.readableBytesView
                guard buffer.count <= Self.answerBytesMax else { throw EtcdError.malformed("a watch message over \(Self.answerBytesMax) bytes") }
                while let newline = buffer[searched...].firstIndex(of: 0x0A) {
                    let line = Array(buffer[..<newline])
                    buffer.removeSubrange(...newline)
                    searched = 0
                    guard !line.isEmpty else { continue }
                    guard let message = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                        throw EtcdError.malformed("a watch message that is not JSON")
                    }
                    if let error = message["error"] as? [String: Any] {
                        throw EtcdError.refused(status: Int(Self.int(error["http_code"]) ?? 500), message: error["message"] as? String ?? "watch error")
                    }
                    let result = message["result"] as? [String: Any] ?? [:]
                    if let compacted = Self.int(result["compact_revision"]), compacted > 0 { throw EtcdError.compacted(oldestRevision: compacted) }
                    if result["canceled"] as? Bool == true { throw EtcdError.unavailable("the watch was cancelled by etcd") }
                    let events = result["events"] as? [[String: Any]] ?? []
                    guard !events.isEmpty else { continue }
                    let values = try events.compactMap { event throws(EtcdError) -> EtcdKeyValue? in
                        guard let kv = event["kv"] as? [String: Any] else { return nil }
                        return try Self.keyValue(kv)
                    }
                    let header = result["header"] as? [String: Any] ?? [:]
                    deliver(WatchBatch(values: values, revision: Self.int(header["revision"]) ?? values.last?.modRevision ?? 0))
                }
                searched = buffer.count
            }
            throw EtcdError.unavailable("\(endpoint): the watch connection ended")
        }
        throw lastError
    }

    // MARK: requests

    /// POSTs `body` to `path` at the first endpoint that answers; the answer's JSON object.
    func call(_ path: String, _ body: [String: Any]) async throws(EtcdError) -> [String: Any] {
        var lastError = EtcdError.unavailable("no endpoint")
        for endpoint in ordered {
            let response: HTTPClientResponse
            let bytes: ByteBuffer
            do {
                response = try await http.execute(try request(endpoint + path, body), timeout: TimeAmount(requestTimeout))
                bytes = try await response.body.collect(upTo: Self.answerBytesMax)
            } catch {
                lastError = .unavailable("\(endpoint): \(error)")
                continue
            }
            let object = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any]
            guard response.status == .ok else {
                // No leader (a partitioned or starting member): another member may answer.
                let message = object?["message"] as? String ?? object?["error"] as? String ?? String(buffer: bytes)
                lastError = .refused(status: Int(response.status.code), message: message)
                if response.status == .serviceUnavailable || message.contains("leader") { continue }
                throw lastError
            }
            guard let object else { throw .malformed("\(path) answered something that is not a JSON object") }
            answered(endpoint)
            return object
        }
        throw lastError
    }

    private func request(_ url: String, _ body: [String: Any]) throws -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try Self.json(body)))
        return request
    }

    /// The JSON text of a request body. (JSONSerialization escaped a batch's half-megabyte base64
    /// value character by character: 2% of a consortium node's CPU at saturation.)
    static func json(_ body: [String: Any]) throws(EtcdError) -> [UInt8] {
        guard let text = CompactJSON.bytes(body) else { throw .malformed("a request body with a value JSON cannot hold") }
        return text
    }

    // MARK: coding

    static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    /// The smallest key after every key that starts with `prefix` (etcd's `range_end` for a prefix).
    static func prefixEnd(_ prefix: [UInt8]) -> [UInt8] {
        var end = prefix
        while let last = end.last {
            if last < 0xFF {
                end[end.count - 1] = last + 1
                return end
            }
            end.removeLast()
        }
        return [0]  // every key
    }

    /// etcd's JSON writes 64-bit integers as strings.
    static func int(_ value: Any?) -> Int64? {
        if let text = value as? String { return Int64(text) }
        if let number = value as? NSNumber { return number.int64Value }
        return nil
    }

    static func revision(of answer: [String: Any]) throws(EtcdError) -> Int64 {
        guard let header = answer["header"] as? [String: Any], let revision = int(header["revision"]) else {
            throw .malformed("an answer without a header revision")
        }
        return revision
    }

    static func keyValue(_ kv: [String: Any]) throws(EtcdError) -> EtcdKeyValue {
        guard let key = (kv["key"] as? String).flatMap({ Data(base64Encoded: $0) }) else { throw .malformed("a key that is not base64") }
        let value = (kv["value"] as? String).flatMap { Data(base64Encoded: $0) } ?? Data()
        guard let created = int(kv["create_revision"]), let modified = int(kv["mod_revision"]) else {
            throw .malformed("a key without its revisions")
        }
        return EtcdKeyValue(key: Array(key), value: Array(value), createRevision: created, modRevision: modified)
    }
}
