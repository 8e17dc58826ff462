"""Parse Prometheus text exposition with prometheus-client's own parser.
usage: prom_parse.py FILE  -> prints [{"name", "labels", "value"}, ...] as JSON"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

samples = []
for family in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in family.samples:
        samples.append({"name": s.name, "labels": s.labels, "value": s.value, "type": family.type})
print(json.dumps(samples))
