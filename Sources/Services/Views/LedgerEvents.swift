public import Contracts
import Foundation
public import LedgerCore
public import Node
import Storage
import Synchronization

/// One event of `GET /v1/events`: a committed transaction the identity may read, or a new entry
/// of an access log it may read (a read, a denial, a break-glass access of a patient's record).
public struct LedgerEvent: Sendable, Equatable {
    /// `transaction` or `access`.
    public let kind: String
    /// Where the stream stands after this event, `<next log index>.<next audit index>`: sent back
    /// as `Last-Event-ID`, it resumes the stream after this event.
    public let id: String
    /// The event as one line of JSON: a transaction as `/v1/txs` lists it, an entry as the access log shows it.
    public let json: String
}

/// The events an identity may see, as they happen: each committed transaction `ReadRules`
/// lets it read (as `/v1/txs` shows it), and each access-log entry of a patient whose log it may
/// read (as `/v1/patients/{id}/access-log` shows it). Pushed when a block commits or an audit entry
/// is durably appended, so an event reaches a client within milliseconds of its commit.
public enum LedgerEvents {
    /// Most events replayed after a `Last-Event-ID` (older ones: read the log and the access log).
    public static let replayMax = 1_000

    /// The positions a `Last-Event-ID` names, or nil.
    public static func position(_ text: String?) -> (log: UInt64, audit: UInt64)? {
        guard let parts = text?.split(separator: ".", omittingEmptySubsequences: false), parts.count == 2,
              let log = UInt64(parts[0]), let audit = UInt64(parts[1]) else { return nil }
        return (log, audit)
    }

    /// The stream for `requester`, from `resume` (a `Last-Event-ID`'s positions: the events after
    /// it, at most `replayMax` of each kind, then live) or from now. Ends when the consumer stops.
    public static func stream(node: LedgerNode, access: AccessService?, requester: Identity,
                              resume: (log: UInt64, audit: UInt64)? = nil) async -> AsyncStream<LedgerEvent> {
        // Subscribe before reading the positions: nothing committed in between is missed.
        let commits = await node.commits()
        let appends = access?.auditAppends()
        let head = await node.headHeader.logSize
        let auditSize = (try? access?.auditSize()) ?? 0
        let start = (log: resume.map { max($0.log, head > UInt64(replayMax) ? head - UInt64(replayMax) : 0) } ?? head,
                     audit: resume.map { max($0.audit, auditSize > UInt64(replayMax) ? auditSize - UInt64(replayMax) : 0) } ?? auditSize)
        let feed = Feed(node: node, access: access, requester: requester, log: start.log, audit: start.audit)
        let (stream, continuation) = AsyncStream.makeStream(of: LedgerEvent.self, bufferingPolicy: .bufferingOldest(4 * replayMax))
        let task = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    await feed.transactions(into: continuation)
                    for await _ in commits { await feed.transactions(into: continuation) }
                }
                if let appends {
                    group.addTask {
                        await feed.accessEntries(into: continuation)
                        for await _ in appends { await feed.accessEntries(into: continuation) }
                    }
                }
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// Reads what is new since the positions and turns what the requester may see into events.
    actor Feed {
        let node: LedgerNode
        let access: AccessService?
        let requester: Identity
        var log: UInt64
        var audit: UInt64

        init(node: LedgerNode, access: AccessService?, requester: Identity, log: UInt64, audit: UInt64) {
            (self.node, self.access, self.requester, self.log, self.audit) = (node, access, requester, log, audit)
        }

        var id: String { "\(log).\(audit)" }

        func transactions(into continuation: AsyncStream<LedgerEvent>.Continuation) async {
            let view = await LedgerView.of(node, audit: access)
            let size = await node.headHeader.logSize
            while log < size, !Task.isCancelled {
                let index = log
                log += 1
                guard let bytes = try? node.store.transactionBytes(logIndex: index), let transaction = try? Transaction(decoding: bytes),
                      let location = try? node.store.location(of: transaction.id),
                      ReadRules.mayReadTransaction(transaction.body, requester, view.state) else { continue }
                let body = view.transaction(transaction, location: location, requester: requester, detail: false)
                continuation.yield(LedgerEvent(kind: "transaction", id: id, json: LedgerEvents.line(body)))
            }
        }

        func accessEntries(into continuation: AsyncStream<LedgerEvent>.Continuation) async {
            guard let access else { return }
            let state = node.state
            let custodians = Set(access.custodianIDs)
            while !Task.isCancelled {
                guard let entries = try? access.auditEntries(from: audit, limit: 500), !entries.isEmpty else { return }
                for (index, entry) in entries {
                    audit = index + 1
                    guard ReadRules.mayReadAccessLog(of: entry.patient, requester, custodians: custodians, state),
                          ReadRules.mayReadAccessLogEntry(about: entry.record, of: entry.patient, requester, state) else { continue }
                    var body = AccessService.accessLogEntryJSON(index, entry)
                    body["patient"] = entry.patient.hex
                    // The requester's on-chain label (directory data), so a client can name who asked.
                    if let label = Directory.identity(entry.requester, in: state)?.label, !label.isEmpty { body["requester_label"] = label }
                    continuation.yield(LedgerEvent(kind: "access", id: id, json: LedgerEvents.line(body)))
                }
            }
        }
    }

    /// Seconds between keep-alive comments of a server-sent event stream (below the server's idle timeout).
    public static let heartbeatSeconds = 15

    /// The stream for `requester` as server-sent events (`text/event-stream`), chunk by chunk: a
    /// `retry:` hint, then `id:`/`event:`/`data:` per event and a keep-alive comment every
    /// `heartbeatSeconds`, until `seconds` have passed or `maxEvents` were sent. `GET /v1/events`
    /// and the portal's stream (which authenticates by its session) write exactly these chunks.
    public static func serverSentEvents(node: LedgerNode, access: AccessService?, requester: Identity, resume: (log: UInt64, audit: UInt64)?,
                                        seconds: Int, maxEvents: Int = .max) async -> AsyncStream<String> {
        let events = await stream(node: node, access: access, requester: requester, resume: resume)
        let (lines, sink) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingOldest(replayMax * 4))
        sink.yield("retry: 2000\n: CareLedger events for \(requester.id.hex)\n\n")
        let feeder = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    var sent = 0
                    for await event in events {
                        sink.yield("id: \(event.id)\nevent: \(event.kind)\ndata: \(event.json)\n\n")
                        sent += 1
                        if sent >= maxEvents { return }
                    }
                }
                group.addTask {
                    var elapsed = 0
                    while elapsed < seconds, (try? await Task.sleep(for: .seconds(min(heartbeatSeconds, seconds - elapsed)))) != nil {
                        elapsed += min(heartbeatSeconds, seconds - elapsed)
                        if elapsed < seconds { sink.yield(": keep-alive\n\n") }
                    }
                }
                await group.next()
                group.cancelAll()
            }
            sink.finish()
        }
        sink.onTermination = { _ in feeder.cancel() }
        return lines
    }

    /// One line of JSON, keys sorted.
    static func line(_ object: JSONObject) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Open event streams (`GET /v1/events` and the portal's), counted against one set of limits.
public final class EventStreamSlots: Sendable {
    /// Streams open at once, in all and per identity (past them a new stream is refused: 429).
    public static let streamsMax = 256
    public static let streamsPerIdentityMax = 4

    private let open = Mutex<[IdentityID: Int]>([:])

    public init() {}

    /// Takes a slot for `identity`; false when a limit is reached.
    public func open(_ identity: IdentityID) -> Bool {
        open.withLock { counts in
            guard counts.values.reduce(0, +) < Self.streamsMax, counts[identity, default: 0] < Self.streamsPerIdentityMax else { return false }
            counts[identity, default: 0] += 1
            return true
        }
    }

    /// Gives a slot back.
    public func close(_ identity: IdentityID) {
        open.withLock { counts in
            counts[identity, default: 1] -= 1
            if counts[identity] == 0 { counts[identity] = nil }
        }
    }
}
