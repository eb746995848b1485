import Foundation
@testable import Ordering
import Testing

/// The etcd client writes its request bodies itself; they must read back as the same JSON.
@Suite("etcd requests: the client's own JSON")
struct EtcdRequestJSONTests {
    @Test func bodiesReadBackAsTheSameObjects() throws {
        let value = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }).base64EncodedString()
        let bodies: [[String: Any]] = [
            ["compare": [["key": "a2V5", "target": "CREATE", "result": "EQUAL", "create_revision": "0"]],
             "success": [["request_put": ["key": "a2V5", "value": value]]], "failure": [["request_range": ["key": "a2V5"]]]],
            ["revision": "12", "physical": true],
            ["peerURLs": ["http://127.0.0.1:7701"]],
            [:],
            ["text": "quote \" backslash \\ newline \n tab \t nul \u{0} bell \u{7} é 🩺"],
        ]
        for body in bodies {
            let text = try EtcdClient.json(body)
            let parsed = try #require(try JSONSerialization.jsonObject(with: Data(text)) as? NSDictionary)
            #expect(parsed == body as NSDictionary, "\(String(decoding: text.prefix(200), as: UTF8.self))")
        }
        #expect(throws: EtcdError.self) { try EtcdClient.json(["date": Date()]) }
    }
}
