"""IoT telemetry over MQTT (issue 7): so far the lossless path from the broker to durable micro-batches."""
