"""Slide packs and other documents built from the dashboards' figure builders."""
