// The hub between the feeds and the browsers, without a browser: a client that never reads is dropped after its
// queue fills while the feed's sink goes on; one stream too many is refused; pictures are copied only while wanted
// and come out as JPEGs of the frame; the metrics count what the feed described.
import Foundation
import ThudBase
import ThudMedia
import ThudModel
import ThudPipeline
@testable import ThudWeb
import XCTest

final class WebHubTests: XCTestCase {
    /// Feeds `n` described steps (a hit every 6th) with their frames through `sink`, one pump round's worth at a time.
    private func feed(_ sink: WebFeedSink, from first: Int, count n: Int, gray: UInt8 = 128) {
        let pixels = [UInt8](repeating: gray, count: sink.feed.width * sink.feed.height)
        pixels.withUnsafeBufferPointer { p in
            for k in first..<(first + n) {
                sink.frame(SourceStep(index: k, time: Double(k) / 12, pixels: p))
                let hit = k % 6 == 0 ? HitEvent(step: k - 1, time: Double(k - 1) / 12, strength: 0.8) : nil
                sink.submit(DescribedStep(step: k, time: Double(k) / 12, envelope: 0.3, onset: 0, hit: hit))
            }
        }
    }

    private func waitUntil(_ seconds: Double = 20, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end { if condition() { return true }; Thread.sleep(forTimeInterval: 0.02) }
        return condition()
    }

    func testAClientThatNeverReadsIsDroppedAndTheFeedGoesOn() {
        let webFeed = WebFeed(name: "cam", width: 16, height: 16, model: "m.thud")
        let hub = WebHub(feeds: [webFeed], settings: .init(maxClients: 4, clientQueue: 4))
        let sink = WebFeedSink(feed: webFeed)
        sink.begin()
        hub.start()
        defer { hub.stop() }
        guard let idle = hub.openStream() else { return XCTFail("a first stream is served") }
        // Never read: its queue fills after 4 messages, the pump drops it; the sink's pushes never fail meanwhile.
        var k = 0
        let dropped = waitUntil {
            feed(sink, from: k, count: 2); k += 2
            Thread.sleep(forTimeInterval: 0.05)
            return hub.droppedClientCount == 1
        }
        XCTAssertTrue(dropped, "the client that never read was dropped")
        XCTAssertEqual(hub.clientCount, 0)
        XCTAssertEqual(webFeed.droppedForPage.load(ordering: .relaxed), 0, "the feed's queue never filled: the pump kept taking its steps")
        // Its drop signal ended: a handler waiting on it returns and the connection closes.
        let ended = expectation(description: "dropped stream ends")
        Task { for await _ in idle.dropped {}; ended.fulfill() }
        wait(for: [ended], timeout: 10)
        XCTAssertTrue(hub.registry.emitToString().contains("thud_web_clients_dropped_total 1"))
    }

    func testOneStreamTooManyIsRefused() {
        let hub = WebHub(feeds: [WebFeed(name: "a", width: 16, height: 16, model: nil)], settings: .init(maxClients: 2, clientQueue: 64))
        hub.start()
        defer { hub.stop() }
        let first = hub.openStream(), second = hub.openStream()
        XCTAssertNotNil(first); XCTAssertNotNil(second)
        XCTAssertNil(hub.openStream(), "a third stream is refused")
        hub.closeStream(first!)
        XCTAssertNotNil(hub.openStream(), "a closed stream makes room")
    }

    func testPicturesAreCopiedOnlyWhileWantedAndComeOutAsTheFrame() throws {
        let webFeed = WebFeed(name: "cam", width: 32, height: 16, model: nil)
        let hub = WebHub(feeds: [webFeed])
        let sink = WebFeedSink(feed: webFeed)
        hub.start()
        defer { hub.stop() }
        feed(sink, from: 0, count: 24, gray: 200)
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertEqual(webFeed.status.pictureSerial, 0, "nobody looked: no frame was copied")
        XCTAssertEqual(hub.picture(feed: "cam")?.bytes.count, 0, "no picture yet; the request asks for them")
        XCTAssertNil(hub.picture(feed: "nobody"))
        var k = 24
        XCTAssertTrue(waitUntil { feed(sink, from: k, count: 3, gray: 200); k += 3; Thread.sleep(forTimeInterval: 0.05); return !(hub.picture(feed: "cam")?.bytes.isEmpty ?? true) })
        let jpeg = try XCTUnwrap(hub.picture(feed: "cam")).bytes
        XCTAssertEqual(Array(jpeg.prefix(2)), [0xFF, 0xD8])
        let steps = hub.registry.emitToString()
        XCTAssertTrue(steps.contains("thud_steps_total{feed=\"cam\"}"), steps)
        XCTAssertTrue(hub.feedsJSON().contains("\"name\": \"cam\""))
    }
}
