"""The cluster's own description of its nodes: node classes discovered from Node Feature
Discovery's and GPU Feature Discovery's labels (`thoth-bot node-classes discover`)."""
